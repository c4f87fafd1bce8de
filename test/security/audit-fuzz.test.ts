import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { record } from '../../src/modules/audit/record.ts';
import { lastCheckpoint } from '../../src/modules/audit/checkpoints-repo.ts';
import { verifyChain } from '../../src/modules/audit/verify-chain.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import type { AuditAction } from '../../src/modules/audit/vocabulary.ts';
import type { Tx } from '../../src/platform/db/index.ts';
import { sealUntilCovered } from '../helpers/audit.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixtureSigner } from '../helpers/fixtures.ts';

// Property: for a random sequence of events (random fields, random transaction grouping,
// sealed in random steps) and any single mutation an attacker with triggers disabled can make
// to one event or checkpoint, verification fails, and for event mutations names that event.
const trusted = [{ keyId: fixtureSigner.keyId, publicKey: fixtureSigner.publicKey }];

const eventArb = fc.record({
  action: fc.constantFrom<AuditAction>('C', 'R', 'U', 'D', 'E'),
  patient: fc.boolean(),
  phi: fc.subarray(['ssn', 'dob', 'mrn', 'address']),
  text: fc.string({ maxLength: 12 }),
  n: fc.integer(),
});
const logArb = fc.array(fc.array(eventArb, { minLength: 1, maxLength: 4 }), {
  minLength: 1,
  maxLength: 5,
});
const mutationArb = fc.record({
  kind: fc.constantFrom(
    'modify-metadata',
    'modify-actor',
    'modify-action',
    'modify-time',
    'modify-phi',
    'delete',
    'insert',
    'swap',
    'checkpoint-root',
    'checkpoint-delete',
  ),
  pick: fc.nat(),
  pick2: fc.nat(),
});

const rollback = new Error('rollback');

describe('audit verification property (random logs × random single mutations)', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.close());

  test('every single mutation is detected', async () => {
    await fc.assert(
      fc.asyncProperty(logArb, mutationArb, async (txs, m) => {
        const org = await createOrganization(t.db, { name: 'Fuzz', type: 'provider' });
        const ids: number[] = [];
        for (const [i, events] of txs.entries()) {
          await t.db.withContext({ orgId: org.id, actorType: 'user' }, async (tx) => {
            for (const e of events) {
              const r = await record(tx, {
                action: e.action,
                eventType: 'fuzz.event',
                phiFields: e.phi,
                ...(e.patient ? { patientId: '0b5d6a1e-3f1c-4c0e-9d7e-6f1a2b3c4d5e' } : {}),
                metadata: { text: e.text, n: e.n },
              });
              ids.push(r.id);
            }
          });
          if (i % 2 === 1) await sealUntilCovered(t.db, fixtureSigner, [org.id]);
        }
        await sealUntilCovered(t.db, fixtureSigner, [org.id]);
        const target = ids[m.pick % ids.length]!;
        const other = ids[m.pick2 % ids.length]!;
        const seen: { outcome?: Awaited<ReturnType<typeof verifyChain>>; expectedId?: number } = {};
        await t.db
          .asAdmin(async (tx) => {
            // The operator exported the newest checkpoint before the attack (external anchor).
            const head = await lastCheckpoint(tx, org.id);
            await tx.exec("SET LOCAL session_replication_role = 'replica'");
            seen.expectedId = await mutate(tx, m.kind, org.id, target, other);
            seen.outcome = await verifyChain(tx, {
              orgId: org.id,
              trustedKeys: trusted,
              archivedMonths: new Set(),
              anchor: { seq: head!.seq, hash: head!.hash },
            });
            throw rollback;
          })
          .catch((e: unknown) => {
            if (e !== rollback) throw e;
          });
        assert.ok(seen.outcome?.failure, `${m.kind} of event ${target} went undetected`);
        if (seen.expectedId !== undefined)
          assert.equal(seen.outcome.failure.eventId, seen.expectedId, m.kind);
      }),
      { numRuns: 40 },
    );
  });
});

/** Applies one mutation; returns the event id verify must name (undefined for checkpoints). */
async function mutate(
  tx: Tx,
  kind: string,
  orgId: string,
  target: number,
  other: number,
): Promise<number | undefined> {
  const set = (sql: string) => tx.query(`update audit.events set ${sql} where id = $1`, [target]);
  switch (kind) {
    case 'modify-metadata':
      await set(`metadata = metadata || '{"tampered": true}'`);
      return target;
    case 'modify-actor':
      await set('actor_id = gen_random_uuid()');
      return target;
    case 'modify-action':
      await set(`action = case action when 'R' then 'U' else 'R' end`);
      return target;
    case 'modify-time':
      await set(`occurred_at = occurred_at + interval '1 microsecond'`);
      return target;
    case 'modify-phi':
      await set(`phi_fields = array_append(phi_fields, 'diagnosis')`);
      return target;
    case 'delete':
      await tx.query('delete from audit.events where id = $1', [target]);
      return target;
    case 'insert': {
      const r = await tx.query<{ id: number }>(
        `insert into audit.events (organization_id, id, occurred_at, tx_id, actor_type, action, event_type)
         select organization_id, nextval('audit.events_id_seq'), occurred_at, tx_id, actor_type, action, event_type
           from audit.events where id = $1 returning id`,
        [target],
      );
      return r.rows[0]?.id;
    }
    case 'swap': {
      if (other === target) {
        await set(`metadata = metadata || '{"tampered": true}'`);
        return target;
      }
      await tx.query('update audit.events set id = -1 where id = $1', [target]);
      await tx.query('update audit.events set id = $1 where id = $2', [target, other]);
      await tx.query('update audit.events set id = $1 where id = -1', [other]);
      // The swap is seen first at the smaller id, or at whichever lies in the earlier batch.
      return undefined;
    }
    case 'checkpoint-root':
      await tx.query(
        `update audit.checkpoints set root = sha256(root) where organization_id = $1
            and seq = (select min(seq) from audit.checkpoints where organization_id = $1)`,
        [orgId],
      );
      return undefined;
    case 'checkpoint-delete':
      await tx.query(
        `delete from audit.checkpoints where organization_id = $1
            and seq = (select min(seq) from audit.checkpoints where organization_id = $1)`,
        [orgId],
      );
      return undefined;
    default:
      throw new Error(`unknown mutation ${kind}`);
  }
}
