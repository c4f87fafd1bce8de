import type { Database, Tx } from '../../src/platform/db/index.ts';
import { record } from '../../src/modules/audit/record.ts';
import { recordSystemAccess } from '../../src/modules/audit/system-recorder.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import type { AuditAction } from '../../src/modules/audit/vocabulary.ts';
import { fixtureSigner } from './fixtures.ts';
import { sealUntilCovered } from './audit.ts';

/** A tenant with a sealed audit log of several batches. */
export interface SealedLog {
  readonly orgId: string;
  /** Event ids in id order. */
  readonly ids: number[];
}

const actions: AuditAction[] = ['C', 'R', 'U', 'D', 'E'];

/** Creates an organization and writes `batches` sealed batches of `perBatch` events. */
export async function buildSealedLog(
  db: Database,
  label: string,
  batches = 3,
  perBatch = 5,
): Promise<SealedLog> {
  db.onSystemAccess(recordSystemAccess);
  const org = await createOrganization(db, { name: `Audit ${label}`, type: 'provider' });
  const ids: number[] = [];
  for (let b = 0; b < batches; b++) {
    await db.withContext({ orgId: org.id, actorType: 'agent', purpose: 'HOPERAT' }, async (tx) => {
      for (let i = 0; i < perBatch; i++) {
        const r = await record(tx, {
          action: actions[(b + i) % actions.length]!,
          eventType: 'test.access',
          entityType: 'Thing',
          entityId: `thing-${b}-${i}`,
          patientId: '11111111-2222-4333-8444-555555555555',
          phiFields: i % 2 ? ['ssn'] : [],
          metadata: { b, i, note: 'ünïcode "quoted"' },
        });
        ids.push(r.id);
      }
    });
    await sealUntilCovered(db, fixtureSigner, [org.id]);
  }
  return { orgId: org.id, ids };
}

/** Runs `fn` as the connecting superuser with every trigger disabled (an attacker's view). */
export function asAttacker(db: Database, fn: (tx: Tx) => Promise<unknown>): Promise<unknown> {
  return db.asAdmin(async (tx) => {
    await tx.exec("SET LOCAL session_replication_role = 'replica'");
    return fn(tx);
  });
}
