import type { Queryable } from '../../platform/db/index.ts';

/** The person an activation token names, as the activation needs to know them. */
export interface ActivationTarget {
  readonly userId: string;
  readonly email: string;
  readonly orgName: string;
  readonly settings: unknown;
}

/** Inserts an activation token's hash for a user. */
export async function insertActivation(
  q: Queryable,
  a: {
    orgId: string;
    id: string;
    userId: string;
    tokenHash: Buffer;
    expiresAt: Date;
    createdBy: string | null;
  },
): Promise<void> {
  await q.query(
    `insert into ward.user_activations (organization_id, id, user_id, token_hash, expires_at, created_by)
     values ($1, $2, $3, $4, $5, $6)`,
    [a.orgId, a.id, a.userId, a.tokenHash, a.expiresAt, a.createdBy],
  );
}

/** Revokes a user's unused activation tokens (a newer one replaces them); returns how many. */
export async function revokePendingActivations(q: Queryable, userId: string): Promise<number> {
  const r = await q.query(
    `update ward.user_activations set revoked_at = now()
      where user_id = $1 and used_at is null and revoked_at is null`,
    [userId],
  );
  return r.rowCount;
}

/** Whether a user has an activation token that is neither used, revoked nor expired. */
export async function hasPendingActivation(
  q: Queryable,
  userId: string,
  now: Date,
): Promise<boolean> {
  const r = await q.query<{ pending: boolean }>(
    `select exists (select 1 from ward.user_activations
                     where user_id = $1 and used_at is null and revoked_at is null
                       and expires_at > $2) as pending`,
    [userId, now],
  );
  return r.rows[0]?.pending === true;
}

/**
 * The person a presented token would activate: found by the token's row id and hash, whatever
 * the token's state (the caller tells used, expired and revoked tokens apart only for the
 * audit trail). Undefined when no activation has this id and hash.
 */
export async function findActivationTarget(
  q: Queryable,
  id: string,
  tokenHash: Buffer,
): Promise<ActivationTarget | undefined> {
  const r = await q.query<{ user_id: string; email: string; org_name: string; settings: unknown }>(
    `select a.user_id, u.email, o.name as org_name, o.settings
       from ward.user_activations a
       join ward.users u on u.organization_id = a.organization_id and u.id = a.user_id
       join ward.organizations o on o.id = a.organization_id
      where a.id = $1 and a.token_hash = $2`,
    [id, tokenHash],
  );
  const row = r.rows[0];
  return row
    ? { userId: row.user_id, email: row.email, orgName: row.org_name, settings: row.settings }
    : undefined;
}

/**
 * Uses an activation token: marks it used only while it is unused, unrevoked and unexpired and
 * its person is an active human without a password, in one statement, so a token activates
 * at most once however many requests present it. Returns whether it was used.
 */
export async function useActivation(
  q: Queryable,
  id: string,
  tokenHash: Buffer,
  userId: string,
  now: Date,
): Promise<boolean> {
  const r = await q.query(
    `update ward.user_activations a set used_at = now()
       from ward.users u
      where a.id = $1 and a.token_hash = $2 and a.user_id = $3 and a.used_at is null
        and a.revoked_at is null and a.expires_at > $4
        and u.organization_id = a.organization_id and u.id = a.user_id
        and u.status = 'active' and u.principal_type = 'human' and u.password_hash is null`,
    [id, tokenHash, userId, now],
  );
  return r.rowCount > 0;
}

/** Sets a person's first password (only while they have none). */
export async function setFirstPassword(
  q: Queryable,
  userId: string,
  hash: string,
): Promise<boolean> {
  const r = await q.query(
    `update ward.users set password_hash = $2, password_changed_at = now()
      where id = $1 and password_hash is null`,
    [userId, hash],
  );
  return r.rowCount > 0;
}
