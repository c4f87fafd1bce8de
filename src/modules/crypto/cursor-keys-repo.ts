import type { Queryable } from '../../platform/db/index.ts';

/** A row of ward.cursor_keys as the system role reads it; times in epoch milliseconds. */
export interface CursorKeyRow {
  readonly version: number;
  readonly wrappedKey: Buffer;
  readonly kekId: string;
  readonly activeFrom: number;
  readonly acceptedUntil: number | null;
}

const columns = `version, wrapped_key as "wrappedKey", kek_id as "kekId",
  (extract(epoch from active_from) * 1000)::float8 as "activeFrom",
  (extract(epoch from accepted_until) * 1000)::float8 as "acceptedUntil"`;

/** The versions a server should hold: every one not yet past its acceptance, oldest first. */
export async function listAcceptedCursorKeys(q: Queryable): Promise<CursorKeyRow[]> {
  const r = await q.query<CursorKeyRow>(
    `select ${columns} from ward.cursor_keys
      where accepted_until is null or accepted_until > now() order by version`,
  );
  return r.rows;
}

/** Every stored version, oldest first (KEK rotation re-wraps them all). */
export async function listCursorKeys(q: Queryable): Promise<CursorKeyRow[]> {
  const r = await q.query<CursorKeyRow>(`select ${columns} from ward.cursor_keys order by version`);
  return r.rows;
}

/** The newest stored version number, 0 when there is none. */
export async function latestCursorKeyVersion(q: Queryable): Promise<number> {
  const r = await q.query<{ v: number }>(
    'select coalesce(max(version), 0)::int as v from ward.cursor_keys',
  );
  return r.rows[0]?.v ?? 0;
}

/**
 * Inserts the first version, active at once. Returns false when a first version exists
 * already: two servers starting together both try, and the primary key lets exactly one win
 * (the other waits for it to commit, then inserts nothing and reads the winner's key).
 */
export async function insertFirstCursorKey(
  q: Queryable,
  wrapped: Buffer,
  kekId: string,
): Promise<boolean> {
  const r = await q.query(
    `insert into ward.cursor_keys (version, wrapped_key, kek_id) values (1, $1, $2)
     on conflict (version) do nothing`,
    [wrapped, kekId],
  );
  return r.rowCount === 1;
}

/**
 * Inserts `version`, active `activateAfterMs` from now, and ends the acceptance of every
 * earlier version `graceMs` after that (an earlier end already set is kept). Returns the new
 * version's activation and the earlier versions' end of acceptance, as the database set them.
 */
export async function insertNextCursorKey(
  q: Queryable,
  k: { version: number; wrapped: Buffer; kekId: string; activateAfterMs: number; graceMs: number },
): Promise<{ activeFrom: number; previousAcceptedUntil: number }> {
  const inserted = await q.query<{ activeFrom: number; until: number }>(
    `insert into ward.cursor_keys (version, wrapped_key, kek_id, active_from)
     values ($1, $2, $3, now() + make_interval(secs => $4::float8 / 1000))
     returning (extract(epoch from active_from) * 1000)::float8 as "activeFrom",
               (extract(epoch from active_from) * 1000 + $5::float8)::float8 as until`,
    [k.version, k.wrapped, k.kekId, k.activateAfterMs, k.graceMs],
  );
  const row = inserted.rows[0];
  if (!row) throw new Error('insert into ward.cursor_keys returned no row');
  // Never before a version's own activation (the table's check): a version superseded before
  // it ever became active is simply never used.
  await q.query(
    `update ward.cursor_keys
        set accepted_until = greatest(active_from, least(coalesce(accepted_until, $2), $2))
      where version < $1`,
    [k.version, new Date(row.until).toISOString()],
  );
  return { activeFrom: row.activeFrom, previousAcceptedUntil: row.until };
}

/** Replaces a wrapped key if it still holds what was read (compare-and-swap, KEK rotation). */
export async function rewrapCursorKey(
  q: Queryable,
  version: number,
  was: Buffer,
  wrapped: Buffer,
  kekId: string,
): Promise<boolean> {
  const r = await q.query(
    `update ward.cursor_keys set wrapped_key = $3, kek_id = $4
      where version = $1 and wrapped_key = $2`,
    [version, was, wrapped, kekId],
  );
  return r.rowCount === 1;
}
