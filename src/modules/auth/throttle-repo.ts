import type { Queryable } from '../../platform/db/index.ts';

/** Throttle state of one key (a hashed IP or email). */
export interface ThrottleState {
  readonly failures: number;
  readonly blockedUntil: Date | null;
}

/** Reads the state of several keys at once. */
export async function readThrottle(
  q: Queryable,
  keys: readonly Buffer[],
): Promise<Map<string, ThrottleState>> {
  const r = await q.query<{
    key_hash: Buffer;
    failures: number;
    blocked_until: Date | null;
    window_started_at: Date;
  }>(
    `select key_hash, failures, blocked_until, window_started_at from ward.auth_throttle where key_hash = any($1::bytea[])`,
    [keys],
  );
  return new Map(
    r.rows.map((x) => [
      x.key_hash.toString('hex'),
      { failures: x.failures, blockedUntil: x.blocked_until },
    ]),
  );
}

/**
 * Counts one failure for `key` within a sliding window and blocks the key once `threshold`
 * failures accumulate; returns the new count and block.
 */
export async function countFailure(
  q: Queryable,
  key: Buffer,
  threshold: number,
  windowMinutes: number,
  blockMinutes: number,
): Promise<ThrottleState> {
  const r = await q.query<{ failures: number; blocked_until: Date | null }>(
    `insert into ward.auth_throttle as t (key_hash, failures, window_started_at)
     values ($1, 1, now())
     on conflict (key_hash) do update set
       failures = case when t.window_started_at < now() - make_interval(mins => $2::int) then 1 else t.failures + 1 end,
       window_started_at = case when t.window_started_at < now() - make_interval(mins => $2::int) then now() else t.window_started_at end
     returning failures, blocked_until`,
    [key, windowMinutes],
  );
  const row = r.rows[0] ?? { failures: 1, blocked_until: null };
  if (row.failures >= threshold) {
    const b = await q.query<{ blocked_until: Date }>(
      `update ward.auth_throttle set blocked_until = now() + make_interval(mins => $2::int)
        where key_hash = $1 returning blocked_until`,
      [key, blockMinutes],
    );
    return { failures: row.failures, blockedUntil: b.rows[0]?.blocked_until ?? null };
  }
  return { failures: row.failures, blockedUntil: row.blocked_until };
}

/** Clears a key (a successful login clears the account key, never the IP key). */
export async function clearThrottle(q: Queryable, key: Buffer): Promise<void> {
  await q.query('delete from ward.auth_throttle where key_hash = $1', [key]);
}

/**
 * Deletes throttle rows that no longer affect anything: their counting window ended over an
 * hour ago and they block nothing now (a new failure would start counting at one anyway). An
 * account's key is an unkeyed digest of whatever was typed as the email — sometimes a
 * password — so such rows are kept no longer than they are needed. Returns how many went.
 */
export async function purgeStaleThrottle(q: Queryable): Promise<number> {
  const r = await q.query(
    `delete from ward.auth_throttle
      where window_started_at < now() - interval '1 hour'
        and (blocked_until is null or blocked_until < now())`,
  );
  return r.rowCount;
}
