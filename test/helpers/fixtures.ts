import { createHash, randomBytes } from 'node:crypto';
import type { Database } from '../../src/platform/db/index.ts';
import { storeAgentContext } from '../../src/modules/crypto/agent-context.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { fixtureCrypto } from './crypto.ts';

/** A password that passes the policy, for fixtures only. */
export const fixturePassword = 'fixture password for tests only';

/** What `seedTenant` created. */
export interface TenantFixture {
  readonly orgId: string;
  readonly adminId: string;
  readonly doctorId: string;
  readonly agentId: string;
  /** An encrypted ward.agent_policy_context row. */
  readonly agentContextId: string;
}

/**
 * Creates an organization with at least one row in every tenant table, through the same
 * services the product uses where they exist. The cross-tenant probe fails for any tenant
 * table this leaves empty, so each new tenant table must be added here.
 */
export async function seedTenant(db: Database, label: string): Promise<TenantFixture> {
  const org = await createOrganization(db, {
    name: `Tenant ${label}`,
    type: 'provider',
    taxId: `TAX-${label}`,
  });
  const admin = await createUser(db, {
    orgId: org.id,
    email: `admin-${label}-${randomBytes(3).toString('hex')}@example.test`,
    role: 'admin',
    password: fixturePassword,
  });
  const doctor = await createUser(db, {
    orgId: org.id,
    email: `doctor-${label}-${randomBytes(3).toString('hex')}@example.test`,
    role: 'doctor',
    password: fixturePassword,
    licenseNumber: `LIC-${label}`,
  });
  await db.withContext({ orgId: org.id, userId: doctor.id, actorType: 'user' }, async (tx) => {
    await tx.query(
      `insert into ward.sessions (organization_id, user_id, token_hash, ip, user_agent, expires_at)
       values ($1, $2, $3, '127.0.0.1', 'fixture', now() + interval '1 hour')`,
      [org.id, doctor.id, createHash('sha256').update(randomBytes(32)).digest()],
    );
  });
  const agent = await createUser(db, {
    orgId: org.id,
    email: `agent-${label}-${randomBytes(3).toString('hex')}@example.test`,
    role: 'reviewer',
    principalType: 'agent',
  });
  // Encrypting creates the organization's first data key (encryption_keys); computing a
  // blind index creates its index root (blind_index_keys).
  const agentContextId = await db.withContext(
    { orgId: org.id, userId: agent.id, actorType: 'agent' },
    async (tx) => {
      await fixtureCrypto.codec.blindIndex(
        tx,
        org.id,
        fixtureEmailIndex,
        `x-${label}@example.test`,
      );
      return storeAgentContext(tx, fixtureCrypto.codec, {
        orgId: org.id,
        agentId: agent.id,
        purpose: 'HPAYMT',
        context: { member: `Member ${label}`, question: 'Is physiotherapy covered?' },
        expiresAt: new Date(Date.now() + 3_600_000),
      });
    },
  );
  return {
    orgId: org.id,
    adminId: admin.id,
    doctorId: doctor.id,
    agentId: agent.id,
    agentContextId,
  };
}

/** A blind-index descriptor used only to exercise index keys in fixtures (not in the schema). */
const fixtureEmailIndex = Object.freeze({
  schema: 'test',
  table: 'fixtures',
  column: 'email_bidx',
  kind: 'email' as const,
  bits: 64,
  purpose: 'fixture',
});
