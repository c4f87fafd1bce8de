import { createHash, randomBytes } from 'node:crypto';
import type { Database } from '../../src/platform/db/index.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { record } from '../../src/modules/audit/record.ts';
import { signerFromSeed, type CheckpointSigner } from '../../src/modules/audit/signer.ts';
import { sealUntilCovered } from './audit.ts';

/** A fixed checkpoint signer for tests (its seed is public: never use it for real data). */
export const fixtureSigner: CheckpointSigner = signerFromSeed(
  createHash('sha256').update('ward test audit signing key').digest(),
);

/** A password that passes the policy, for fixtures only. */
export const fixturePassword = 'fixture password for tests only';

/** What `seedTenant` created. */
export interface TenantFixture {
  readonly orgId: string;
  readonly adminId: string;
  readonly doctorId: string;
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
    await record(tx, {
      action: 'R',
      eventType: 'fixture.read',
      entityType: 'User',
      entityId: doctor.id,
      phiFields: ['license_number'],
      purposeOfUse: 'TREAT',
    });
  });
  // Audit events become checkpoints only when sealed; seal so both audit tables have rows.
  await sealUntilCovered(db, fixtureSigner, [org.id]);
  return { orgId: org.id, adminId: admin.id, doctorId: doctor.id };
}
