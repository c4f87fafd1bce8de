import type { Queryable } from '../../platform/db/index.ts';
import { firstRow } from '../../platform/db/index.ts';

/** A session as listed to its owner or an administrator (never the token hash). */
export interface SessionView {
  readonly id: string;
  readonly userId: string;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly mfaVerified: boolean;
  readonly authMethod: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  ip: string | null;
  user_agent: string | null;
  mfa_verified: boolean;
  auth_method: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const columns =
  'id, user_id, host(ip) as ip, user_agent, mfa_verified, auth_method, created_at, last_seen_at, expires_at, revoked_at';

function toView(r: SessionRow): SessionView {
  return {
    id: r.id,
    userId: r.user_id,
    ip: r.ip,
    userAgent: r.user_agent,
    mfaVerified: r.mfa_verified,
    authMethod: r.auth_method,
    createdAt: r.created_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}

/** Inserts a session row; the caller minted the id and token. */
export async function insertSession(
  q: Queryable,
  s: {
    orgId: string;
    id: string;
    userId: string;
    tokenHash: Buffer;
    ip: string | undefined;
    userAgent: string | undefined;
    mfaVerified: boolean;
    restricted: 'mfa_enrollment' | null;
    authMethod: 'password' | 'password+totp' | 'password+recovery' | 'refresh';
    expiresAt: Date;
  },
): Promise<Date> {
  const r = await q.query<{ expires_at: Date }>(
    `insert into ward.sessions (organization_id, id, user_id, token_hash, ip, user_agent, mfa_verified, restricted,
                                auth_method, expires_at)
     values ($1, $2, $3, $4, $5::inet, $6, $7, $8, $9, $10) returning expires_at`,
    [
      s.orgId,
      s.id,
      s.userId,
      s.tokenHash,
      s.ip ?? null,
      s.userAgent?.slice(0, 512) ?? null,
      s.mfaVerified,
      s.restricted,
      s.authMethod,
      s.expiresAt,
    ],
  );
  return firstRow(r).expires_at;
}

/** Live sessions of one user, newest first. */
export async function listSessions(q: Queryable, userId: string): Promise<SessionView[]> {
  const r = await q.query<SessionRow>(
    `select ${columns} from ward.sessions
      where user_id = $1 and revoked_at is null and expires_at > now() order by created_at desc limit 200`,
    [userId],
  );
  return r.rows.map(toView);
}

/** Reads one session of the organization. */
export async function findSession(
  q: Queryable,
  id: string,
): Promise<(SessionView & { restricted: string | null }) | undefined> {
  const r = await q.query<SessionRow & { restricted: string | null }>(
    `select ${columns}, restricted from ward.sessions where id = $1`,
    [id],
  );
  const row = r.rows[0];
  return row ? { ...toView(row), restricted: row.restricted } : undefined;
}

/** Revokes one session; returns whether a live one was revoked. */
export async function revokeSession(q: Queryable, id: string, reason: string): Promise<boolean> {
  const r = await q.query(
    `update ward.sessions set revoked_at = now(), revoked_reason = $2 where id = $1 and revoked_at is null`,
    [id, reason],
  );
  return r.rowCount > 0;
}

/** Revokes every live session of a user, except `keep`; returns how many. */
export async function revokeUserSessions(
  q: Queryable,
  userId: string,
  reason: string,
  keep?: string,
): Promise<number> {
  const r = await q.query(
    `update ward.sessions set revoked_at = now(), revoked_reason = $2
      where user_id = $1 and revoked_at is null and ($3::uuid is null or id <> $3::uuid)`,
    [userId, reason, keep ?? null],
  );
  return r.rowCount;
}

/** Marks a session MFA-verified and lifts its enrollment restriction. */
export async function markSessionVerified(q: Queryable, id: string): Promise<void> {
  await q.query('update ward.sessions set mfa_verified = true, restricted = null where id = $1', [
    id,
  ]);
}
