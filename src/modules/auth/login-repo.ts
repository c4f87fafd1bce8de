import type { Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';

/** What a login needs to know about the account behind an email. */
export interface LoginAccount {
  readonly orgId: string;
  readonly userId: string;
  readonly email: string;
  readonly passwordHash: string | null;
  readonly status: string;
  readonly principalType: 'human' | 'service' | 'agent';
  readonly orgStatus: string;
  readonly orgName: string;
  readonly settings: unknown;
  readonly roles: readonly string[];
  /** Every permission the account's roles give (decides, with the roles, whether MFA is owed). */
  readonly permissions: ReadonlySet<string>;
  readonly mfaConfirmed: boolean;
}

/**
 * Finds the account for an email across organizations. Runs in an `asSystem` transaction:
 * before the user is found there is no tenant to scope the search to.
 */
export async function findLoginAccount(
  q: Queryable,
  email: string,
): Promise<LoginAccount | undefined> {
  const r = await q.query<{
    organization_id: string;
    id: string;
    email: string;
    password_hash: string | null;
    status: string;
    principal_type: 'human' | 'service' | 'agent';
    org_status: string;
    org_name: string;
    settings: unknown;
    roles: string[];
    permissions: string[];
    mfa_confirmed: boolean;
  }>(
    `select u.organization_id, u.id, u.email, u.password_hash, u.status, u.principal_type,
            o.status as org_status, o.name as org_name, o.settings,
            array(select r.name from ward.user_roles ur join ward.roles r
                    on r.organization_id = ur.organization_id and r.id = ur.role_id
                   where ur.organization_id = u.organization_id and ur.user_id = u.id) as roles,
            array(select distinct rp.permission_id from ward.user_roles ur join ward.role_permissions rp
                    on rp.organization_id = ur.organization_id and rp.role_id = ur.role_id
                   where ur.organization_id = u.organization_id and ur.user_id = u.id) as permissions,
            exists(select 1 from ward.mfa_factors f where f.organization_id = u.organization_id
                     and f.user_id = u.id and f.confirmed_at is not null) as mfa_confirmed
       from ward.users u join ward.organizations o on o.id = u.organization_id
      where u.email = $1`,
    [email],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    orgId: row.organization_id,
    userId: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    status: row.status,
    principalType: row.principal_type,
    orgStatus: row.org_status,
    orgName: row.org_name,
    settings: row.settings,
    roles: row.roles,
    permissions: new Set(row.permissions),
    mfaConfirmed: row.mfa_confirmed,
  };
}

/** Records a successful login on the user row and clears its failure counters. */
export async function noteLoginSuccess(
  q: Queryable,
  userId: string,
  ip: string | undefined,
  newHash?: string,
): Promise<void> {
  await q.query(
    `update ward.users set failed_login_attempts = 0, locked_until = null, last_login_at = now(),
            last_login_ip = $2::inet,
            password_hash = coalesce($3, password_hash),
            password_changed_at = case when $3::text is null then password_changed_at else now() end
      where id = $1`,
    [userId, ip ?? null, newHash ?? null],
  );
}

/** Mirrors the throttle's account state onto the user row, for administrators to see. */
export async function noteLoginFailure(
  q: Queryable,
  userId: string,
  failures: number,
  lockedUntil: Date | null,
): Promise<void> {
  await q.query(
    'update ward.users set failed_login_attempts = $2, locked_until = $3 where id = $1',
    [userId, failures, lockedUntil],
  );
}

/**
 * Refuses a credential check for an account that repeated failures have locked: the lock that
 * stops logins also stops guessing through a signed-in session (password change, step-up codes).
 */
export async function refuseWhileLocked(q: Queryable, userId: string): Promise<void> {
  const r = await q.query<{ locked: boolean }>(
    'select coalesce(locked_until > now(), false) as locked from ward.users where id = $1',
    [userId],
  );
  if (r.rows[0]?.locked === true)
    throw new WardError(
      'rate_limited',
      'Too many failed attempts: the account is locked for now; try again later',
    );
}
