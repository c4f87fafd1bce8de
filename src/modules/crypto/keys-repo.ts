import type { Queryable } from '../../platform/db/index.ts';

/** The status of a data-key version (the `ward.key_status` enum). */
export type KeyStatus = 'active' | 'decrypt_only' | 'retired' | 'destroyed';

/** A data-key row as the keyring needs it. */
export interface WrappedKeyRow {
  readonly version: number;
  readonly wrapped_key: Buffer | null;
  readonly kek_id: string;
  readonly status: KeyStatus;
}

/** The organization's primary (active) data key, if it has one. */
export async function findActiveKey(
  q: Queryable,
  orgId: string,
): Promise<WrappedKeyRow | undefined> {
  const r = await q.query<WrappedKeyRow>(
    `select version, wrapped_key, kek_id, status from ward.encryption_keys
      where organization_id = $1 and status = 'active'`,
    [orgId],
  );
  return r.rows[0];
}

/** One data-key version of an organization. */
export async function findKeyVersion(
  q: Queryable,
  orgId: string,
  version: number,
): Promise<WrappedKeyRow | undefined> {
  const r = await q.query<WrappedKeyRow>(
    `select version, wrapped_key, kek_id, status from ward.encryption_keys
      where organization_id = $1 and version = $2`,
    [orgId, version],
  );
  return r.rows[0];
}

/** Inserts an organization's first data key; false when another transaction won the race. */
export async function insertFirstKey(
  q: Queryable,
  orgId: string,
  wrapped: Buffer,
  kekId: string,
): Promise<boolean> {
  const r = await q.query(
    `insert into ward.encryption_keys (organization_id, version, wrapped_key, kek_id, status)
     values ($1, 1, $2, $3, 'active') on conflict do nothing`,
    [orgId, wrapped, kekId],
  );
  return r.rowCount === 1;
}

/** The organization's blind-index root, wrapped; `destroyed` when it was shredded. */
export async function findIndexKey(
  q: Queryable,
  orgId: string,
): Promise<{ wrapped_key: Buffer | null; kek_id: string } | undefined> {
  const r = await q.query<{ wrapped_key: Buffer | null; kek_id: string }>(
    `select wrapped_key, kek_id from ward.blind_index_keys where organization_id = $1 and version = 1`,
    [orgId],
  );
  return r.rows[0];
}

/**
 * Inserts the organization's blind-index root, recording the normalization version its indexes
 * are computed with from the start; false when another transaction won.
 */
export async function insertIndexKey(
  q: Queryable,
  orgId: string,
  wrapped: Buffer,
  kekId: string,
  normalization: number,
): Promise<boolean> {
  const r = await q.query(
    `insert into ward.blind_index_keys (organization_id, version, wrapped_key, kek_id, normalization)
     values ($1, 1, $2, $3, $4) on conflict do nothing`,
    [orgId, wrapped, kekId, normalization],
  );
  return r.rowCount === 1;
}

/**
 * The oldest normalization version any stored index of `column` (schema.table.column) may still
 * have in the organization: the version a completed reindex recorded, else the one its index
 * root started with. Undefined when the organization has no index root (nothing is indexed).
 */
export async function findIndexFloor(
  q: Queryable,
  orgId: string,
  column: string,
): Promise<number | undefined> {
  const r = await q.query<{ floor: number }>(
    `select coalesce(n.normalization, k.normalization) as floor
       from ward.blind_index_keys k
       left join ward.blind_index_normalization n
         on n.organization_id = k.organization_id and n.column_name = $2
      where k.organization_id = $1 and k.version = 1`,
    [orgId, column],
  );
  return r.rows[0]?.floor;
}
