import type { Queryable } from '../../platform/db/index.ts';

/** The normalization state of one organization's blind-index column. */
export interface ColumnNormalization {
  /** schema.table.column */
  readonly column: string;
  /** Oldest version a stored index may have (the root's version when no row exists). */
  readonly floor: number;
  /** The version a reindex in progress moves the column to. */
  readonly reindexTo: number | null;
  /** The last row id that reindex finished (null: from the start). */
  readonly cursor: string | null;
  readonly reindexedAt: Date | null;
}

/** An organization with a live blind-index root, and the version that root started with. */
export interface IndexedOrganization {
  readonly orgId: string;
  readonly rootNormalization: number;
}

/**
 * Organizations with a live index root (one of them with `orgId`); a shredded root has nothing
 * to reindex, and an organization without one has indexed nothing.
 */
export async function indexedOrganizations(
  q: Queryable,
  orgId?: string,
): Promise<IndexedOrganization[]> {
  const r = await q.query<{ organization_id: string; normalization: number }>(
    `select organization_id, normalization from ward.blind_index_keys
      where version = 1 and destroyed_at is null and ($1::uuid is null or organization_id = $1)
      order by organization_id`,
    [orgId ?? null],
  );
  return r.rows.map((x) => ({ orgId: x.organization_id, rootNormalization: x.normalization }));
}

/** Whether the organization's index root was shredded. */
export async function indexRootDestroyed(q: Queryable, orgId: string): Promise<boolean> {
  const r = await q.query<{ destroyed: boolean }>(
    `select destroyed_at is not null as destroyed from ward.blind_index_keys
      where organization_id = $1 and version = 1`,
    [orgId],
  );
  return r.rows[0]?.destroyed === true;
}

/** The state of each of `columns` in the organization (absent rows take the root's version). */
export async function columnNormalizations(
  q: Queryable,
  org: IndexedOrganization,
  columns: readonly string[],
): Promise<Map<string, ColumnNormalization>> {
  const r = await q.query<{
    column_name: string;
    normalization: number;
    reindex_to: number | null;
    reindex_cursor: string | null;
    reindexed_at: Date | null;
  }>(
    `select column_name, normalization, reindex_to, reindex_cursor, reindexed_at
       from ward.blind_index_normalization
      where organization_id = $1 and column_name = any($2::text[])`,
    [org.orgId, columns],
  );
  const out = new Map<string, ColumnNormalization>();
  for (const c of columns) {
    const row = r.rows.find((x) => x.column_name === c);
    out.set(c, {
      column: c,
      floor: row?.normalization ?? org.rootNormalization,
      reindexTo: row?.reindex_to ?? null,
      cursor: row?.reindex_cursor ?? null,
      reindexedAt: row?.reindexed_at ?? null,
    });
  }
  return out;
}

/**
 * Starts (or keeps) a reindex of `columns` towards `target`: a pass already heading there keeps
 * its cursor, so a killed run resumes where it stopped; any other starts from the first row.
 */
export async function startPass(
  q: Queryable,
  org: IndexedOrganization,
  columns: readonly string[],
  target: number,
): Promise<void> {
  await q.query(
    `insert into ward.blind_index_normalization
       (organization_id, column_name, normalization, reindex_to, reindex_started_at)
     select $1, c, least($3::int, $4::int), $4, now() from unnest($2::text[]) as c
     on conflict (organization_id, column_name) do update
       set reindex_to = excluded.reindex_to, reindex_cursor = null,
           reindex_started_at = excluded.reindex_started_at
     where ward.blind_index_normalization.reindex_to is distinct from excluded.reindex_to`,
    [org.orgId, columns, org.rootNormalization, target],
  );
}

/**
 * Locks the pass state of `columns` for one batch (a second run waits here, so no two batches
 * of one pass overlap) and returns its cursor; undefined when no pass towards `target` is open
 * (another run finished it meanwhile).
 */
export async function lockPass(
  q: Queryable,
  orgId: string,
  columns: readonly string[],
  target: number,
): Promise<{ cursor: string | null } | undefined> {
  const r = await q.query<{ reindex_cursor: string | null }>(
    `select reindex_cursor from ward.blind_index_normalization
      where organization_id = $1 and column_name = any($2::text[]) and reindex_to = $3
      order by column_name for update`,
    [orgId, columns, target],
  );
  if (r.rows.length !== columns.length) return undefined;
  return { cursor: r.rows[0]?.reindex_cursor ?? null };
}

/** Advances a pass past the row `cursor`, in the batch's transaction. */
export async function advancePass(
  q: Queryable,
  orgId: string,
  columns: readonly string[],
  cursor: string,
): Promise<void> {
  await q.query(
    `update ward.blind_index_normalization set reindex_cursor = $3
      where organization_id = $1 and column_name = any($2::text[]) and reindex_to is not null`,
    [orgId, columns, cursor],
  );
}

/**
 * Records that every stored index of `columns` is in version `target` now: passed columns end
 * their pass, columns whose rules did not change are recorded without one.
 */
export async function completeColumns(
  q: Queryable,
  orgId: string,
  columns: readonly string[],
  target: number,
): Promise<void> {
  await q.query(
    `insert into ward.blind_index_normalization (organization_id, column_name, normalization, reindexed_at)
     select $1, c, $3, now() from unnest($2::text[]) as c
     on conflict (organization_id, column_name) do update
       set normalization = greatest(ward.blind_index_normalization.normalization, excluded.normalization),
           reindex_to = null, reindex_cursor = null, reindex_started_at = null,
           reindexed_at = excluded.reindexed_at`,
    [orgId, columns, target],
  );
}
