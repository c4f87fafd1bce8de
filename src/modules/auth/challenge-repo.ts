import type { Queryable } from '../../platform/db/index.ts';

/** What taking an attempt on a live challenge tells the second step of a login. */
export interface TakenAttempt {
  readonly userId: string;
  readonly email: string;
  readonly settings: unknown;
}

/** Inserts the challenge a correct password earns. */
export async function insertChallenge(
  q: Queryable,
  c: {
    orgId: string;
    id: string;
    userId: string;
    tokenHash: Buffer;
    ip: string | undefined;
    userAgent: string | undefined;
    expiresAt: Date;
  },
): Promise<void> {
  await q.query(
    `insert into ward.login_challenges (organization_id, id, user_id, token_hash, ip, user_agent, expires_at)
     values ($1, $2, $3, $4, $5::inet, $6, $7)`,
    [
      c.orgId,
      c.id,
      c.userId,
      c.tokenHash,
      c.ip ?? null,
      c.userAgent?.slice(0, 512) ?? null,
      c.expiresAt,
    ],
  );
}

/**
 * Takes one attempt on a live challenge: raises its counter only while it is below `limit`,
 * in one statement, and returns the account it belongs to. On PostgreSQL a concurrent attempt
 * waits for this row's lock and then re-checks `attempts < limit` on the committed count, so
 * however many guesses arrive at once, at most `limit` of them get an attempt. The caller
 * commits this before it checks any code, so a failing check cannot roll the attempt back.
 */
export async function takeAttempt(
  q: Queryable,
  id: string,
  tokenHash: Buffer,
  now: Date,
  limit: number,
): Promise<TakenAttempt | undefined> {
  const r = await q.query<{ user_id: string; email: string; settings: unknown }>(
    `update ward.login_challenges c set attempts = c.attempts + 1
       from ward.users u join ward.organizations o on o.id = u.organization_id
      where c.id = $1 and c.token_hash = $2 and c.consumed_at is null and c.expires_at > $3
        and c.attempts < $4 and u.organization_id = c.organization_id and u.id = c.user_id
      returning c.user_id, u.email, o.settings`,
    [id, tokenHash, now, limit],
  );
  const row = r.rows[0];
  return row ? { userId: row.user_id, email: row.email, settings: row.settings } : undefined;
}

/**
 * Why no attempt could be taken: the challenge does not exist under this token, or it does
 * (then its user is returned) but is used up, expired or exhausted.
 */
export async function challengeOwner(
  q: Queryable,
  id: string,
  tokenHash: Buffer,
): Promise<string | undefined> {
  const r = await q.query<{ user_id: string }>(
    'select user_id from ward.login_challenges where id = $1 and token_hash = $2',
    [id, tokenHash],
  );
  return r.rows[0]?.user_id;
}

/** Marks a challenge used; false when another request already used it. */
export async function consumeChallenge(q: Queryable, id: string): Promise<boolean> {
  const r = await q.query(
    'update ward.login_challenges set consumed_at = now() where id = $1 and consumed_at is null',
    [id],
  );
  return r.rowCount > 0;
}
