import { WardError } from '../../platform/errors.ts';
import { randomBytes } from 'node:crypto';
import type { Database } from '../../platform/db/index.ts';
import { record } from '../audit/record.ts';
import { findLoginAccount } from '../auth/login-repo.ts';
import { confirmProvisionedFactor, deleteMfa, insertTotpFactor } from '../auth/mfa-repo.ts';
import { hashPassword } from '../auth/passwords.ts';
import { base32Decode, base32Encode, newTotpSecret, otpauthUri } from '../auth/totp.ts';
import { countMrnPrefix } from '../clinical/synthetic/bulk-repo.ts';
import { seedSyntheticPatients, type SeedResult } from '../clinical/synthetic/seed-service.ts';
import { syntheticPayerName } from '../clinical/synthetic/vocabulary.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { createOrganization, createUser } from '../tenancy/service.ts';
import { setPasswordHash } from '../tenancy/users-repo.ts';
import {
  demoCredentialsWarning,
  readDemoCredentials,
  writeDemoCredentials,
  type DemoCredentials,
  type DemoLogin,
} from './credentials-file.ts';

/** Marker in the demo organizations' metadata: how a restart finds them again. */
const demoMarker = 'v1';
/** The demo's patients: MRNs DEMO-0000001… from a fixed seed, so every demo looks the same. */
export const demoMrnPrefix = 'DEMO';
const demoSeed = 'ward-demo-v1';

const providerName = 'Riverside Demo Clinic (synthetic)';
export const providerDomain = 'riverside-clinic.example.org';
const payerDomain = 'demo-mutual.example.com';

interface UserSpec {
  readonly email: string;
  readonly role: string;
  readonly org: 'provider' | 'payer';
  readonly name: string;
  readonly license?: string;
}

/** One user of every seed role (seed 2: admin, doctor, nurse, auditor, analyst, reviewer). */
const demoUsers: readonly UserSpec[] = [
  { email: `admin@${providerDomain}`, role: 'admin', org: 'provider', name: 'Demo Admin' },
  {
    email: `doctor@${providerDomain}`,
    role: 'doctor',
    org: 'provider',
    name: 'Dr. Avery Ashdown (synthetic)',
    license: 'DEMO-MD-0001',
  },
  {
    email: `doctor2@${providerDomain}`,
    role: 'doctor',
    org: 'provider',
    name: 'Dr. Jordan Birchfield (synthetic)',
    license: 'DEMO-MD-0002',
  },
  {
    email: `nurse@${providerDomain}`,
    role: 'nurse',
    org: 'provider',
    name: 'Casey Calloway, RN (synthetic)',
    license: 'DEMO-RN-0001',
  },
  { email: `auditor@${providerDomain}`, role: 'auditor', org: 'provider', name: 'Demo Auditor' },
  { email: `analyst@${providerDomain}`, role: 'analyst', org: 'provider', name: 'Demo Analyst' },
  { email: `reviewer@${payerDomain}`, role: 'reviewer', org: 'payer', name: 'Demo Reviewer' },
];

/** What the demo consists of, for printing. */
export interface DemoInfo {
  readonly providerOrgId: string;
  readonly payerOrgId: string;
  readonly logins: readonly DemoLogin[];
  readonly adminEmail: string;
  readonly adminTotpSecret: string;
  readonly adminOtpauthUri: string;
  readonly patients: number;
  /** A seeded MRN to try a search with. */
  readonly sampleMrn: string;
  readonly credentialsFile: string;
  /** Whether this run created the demo (false: it was already there). */
  readonly created: boolean;
  readonly seeded: SeedResult | undefined;
}

/**
 * Makes sure the demo dataset exists and returns how to log in. Idempotent: organizations,
 * users, the admin's authenticator and the patients are each created only when missing, so a
 * restart on the same data prints the same logins and duplicates nothing. Passwords are
 * generated at random on first creation and kept, for the demo only, in a 0600 file in the
 * data directory; a user whose password is not in that file gets a new one.
 */
export async function ensureDemo(
  db: Database,
  codec: FieldCodec,
  opts: { readonly dataDir: string; readonly patients?: number },
): Promise<DemoInfo> {
  const found = await findDemoOrganizations(db);
  const provider =
    found.provider ??
    (
      await createOrganization(db, {
        name: providerName,
        type: 'provider',
        taxId: 'DEMO-PROVIDER',
        metadata: { wardDemo: demoMarker, demoRole: 'provider', synthetic: true },
      })
    ).id;
  const payer =
    found.payer ??
    (
      await createOrganization(db, {
        name: syntheticPayerName,
        type: 'insurer',
        taxId: 'DEMO-PAYER',
        metadata: { wardDemo: demoMarker, demoRole: 'payer', synthetic: true },
      })
    ).id;
  const created = found.provider === undefined;
  const orgIds = { provider, payer };
  const orgNames = { provider: providerName, payer: syntheticPayerName };
  const saved = readDemoCredentials(opts.dataDir);
  const trusted =
    saved && saved.providerOrgId === provider && saved.payerOrgId === payer ? saved : undefined;

  const logins: DemoLogin[] = [];
  let adminId: string | undefined;
  let adminHasFactor = false;
  for (const spec of demoUsers) {
    const orgId = orgIds[spec.org];
    const account = await db.asSystem(
      { name: 'demo.find-user', reason: 'find a demo login by email before creating it', orgId },
      (tx) => findLoginAccount(tx, spec.email),
    );
    const known = trusted?.logins.find((l) => l.email === spec.email)?.password;
    if (account && account.orgId !== orgId) {
      // Never touch an account of another organization that happens to use a demo address.
      throw new WardError(
        'conflict',
        `${spec.email} already belongs to another organization; the demo will not take it over`,
      );
    }
    let password = known;
    let userId = account?.userId;
    if (!account) {
      password = newPassword();
      userId = (
        await createUser(db, {
          orgId,
          email: spec.email,
          role: spec.role,
          password,
          displayName: spec.name,
          licenseNumber: spec.license,
        })
      ).id;
    } else if (password === undefined) {
      password = newPassword();
      await resetPassword(db, orgId, account.userId, password);
    }
    if (spec.role === 'admin') {
      adminId = userId;
      adminHasFactor = account?.mfaConfirmed ?? false;
    }
    logins.push({
      email: spec.email,
      role: spec.role,
      organization: orgNames[spec.org],
      password,
    });
  }
  if (!adminId) throw new Error('the demo has no admin');
  const adminEmail = demoUsers[0]?.email ?? '';
  const adminTotpSecret =
    trusted && adminHasFactor
      ? trusted.adminTotpSecret
      : await provisionTotp(db, codec, provider, adminId);

  let seeded: SeedResult | undefined;
  const existing = await db.withContext({ orgId: provider, actorType: 'system' }, (tx) =>
    countMrnPrefix(tx, provider, demoMrnPrefix),
  );
  if (existing === 0) {
    seeded = await seedSyntheticPatients(db, codec, {
      orgId: provider,
      count: opts.patients ?? 40,
      seed: demoSeed,
      mrnPrefix: demoMrnPrefix,
    });
  }
  const credentials: DemoCredentials = {
    warning: demoCredentialsWarning,
    providerOrgId: provider,
    payerOrgId: payer,
    logins,
    adminTotpSecret,
  };
  const credentialsFile = writeDemoCredentials(opts.dataDir, credentials);
  return {
    providerOrgId: provider,
    payerOrgId: payer,
    logins,
    adminEmail,
    adminTotpSecret,
    adminOtpauthUri: otpauthUri(base32Decode(adminTotpSecret), adminEmail, 'Ward demo'),
    patients: seeded?.patients ?? existing,
    sampleMrn: `${demoMrnPrefix}-0000001`,
    credentialsFile,
    created,
    seeded,
  };
}

/** The demo provider organization's id, when the demo exists. */
export async function findDemoProvider(db: Database): Promise<string | undefined> {
  return (await findDemoOrganizations(db)).provider;
}

async function findDemoOrganizations(
  db: Database,
): Promise<{ provider: string | undefined; payer: string | undefined }> {
  return db.asSystem(
    { name: 'demo.find', reason: 'find the demo organizations, which no tenant context names' },
    async (tx) => {
      const r = await tx.query<{ id: string; role: string }>(
        `select id, metadata->>'demoRole' as role from ward.organizations
          where metadata->>'wardDemo' = $1 order by created_at`,
        [demoMarker],
      );
      return {
        provider: r.rows.find((x) => x.role === 'provider')?.id,
        payer: r.rows.find((x) => x.role === 'payer')?.id,
      };
    },
  );
}

/** A random 24-character password (144 bits); printed once and kept in the demo file only. */
function newPassword(): string {
  return randomBytes(18).toString('base64url');
}

async function resetPassword(
  db: Database,
  orgId: string,
  userId: string,
  password: string,
): Promise<void> {
  const hash = await hashPassword(password);
  await db.asSystem(
    {
      name: 'demo.reset-password',
      reason: 'a demo login exists but its generated password was not kept; issue a new one',
      orgId,
    },
    async (tx) => {
      await setPasswordHash(tx, orgId, userId, hash);
      await record(tx, {
        action: 'U',
        eventType: 'auth.password.reset',
        entityType: 'User',
        entityId: userId,
        actorType: 'system',
        metadata: { by: 'demo' },
      });
    },
  );
}

/**
 * Enrolls a confirmed authenticator for the demo admin (new organizations require MFA for
 * admins) and returns its base32 secret, which the demo prints so a newcomer can log in.
 */
async function provisionTotp(
  db: Database,
  codec: FieldCodec,
  orgId: string,
  userId: string,
): Promise<string> {
  const secret = newTotpSecret();
  try {
    await db.withContext({ orgId, userId, actorType: 'system' }, async (tx) => {
      await deleteMfa(tx, userId);
      const factorId = await insertTotpFactor(tx, codec, orgId, userId, secret);
      await confirmProvisionedFactor(tx, factorId);
      await record(tx, {
        action: 'E',
        eventType: 'auth.mfa.enroll',
        entityType: 'User',
        entityId: userId,
        actorType: 'system',
        metadata: { provisionedBy: 'demo' },
      });
    });
    return base32Encode(secret);
  } finally {
    secret.fill(0);
  }
}
