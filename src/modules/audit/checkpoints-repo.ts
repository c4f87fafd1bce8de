import type { Queryable } from '../../platform/db/index.ts';
import type { Checkpoint } from './checkpoint-format.ts';

/** A checkpoint as stored, without its per-leaf data. */
export interface StoredCheckpoint extends Checkpoint {
  readonly hash: Buffer;
  readonly signature: Buffer;
}

/** The per-leaf data of a checkpoint: event ids and leaf hashes in leaf order. */
export interface CheckpointLeaves {
  readonly eventIds: number[];
  readonly leafHashes: Buffer[];
}

const headColumns = `c.organization_id::text as org_id, c.seq, to_char(c.month, 'YYYY-MM') as month,
  c.tx_from::text as tx_from, c.tx_to::text as tx_to, c.size, c.first_id, c.last_id, c.root,
  c.prev_hash, c.hash, c.key_id, c.signature,
  to_char(c.sealed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as sealed_at`;

interface HeadRow {
  org_id: string;
  seq: number;
  month: string;
  tx_from: string;
  tx_to: string;
  size: number;
  first_id: number;
  last_id: number;
  root: Buffer;
  prev_hash: Buffer;
  hash: Buffer;
  key_id: string;
  signature: Buffer;
  sealed_at: string;
}

function toCheckpoint(r: HeadRow): StoredCheckpoint {
  return {
    orgId: r.org_id,
    seq: r.seq,
    month: r.month,
    txFrom: r.tx_from,
    txTo: r.tx_to,
    size: r.size,
    firstId: r.first_id,
    lastId: r.last_id,
    root: r.root,
    prevHash: r.prev_hash,
    hash: r.hash,
    keyId: r.key_id,
    signature: r.signature,
    sealedAt: r.sealed_at,
  };
}

/** The newest checkpoint of an organization's chain, if any. */
export async function lastCheckpoint(
  q: Queryable,
  orgId: string,
): Promise<StoredCheckpoint | undefined> {
  const r = await q.query<HeadRow>(
    `select ${headColumns} from audit.checkpoints c where c.organization_id = $1 order by c.seq desc limit 1`,
    [orgId],
  );
  return r.rows[0] ? toCheckpoint(r.rows[0]) : undefined;
}

/** Every checkpoint of a chain in order, without leaf data. */
export async function listCheckpoints(q: Queryable, orgId: string): Promise<StoredCheckpoint[]> {
  const r = await q.query<HeadRow>(
    `select ${headColumns} from audit.checkpoints c where c.organization_id = $1 order by c.seq`,
    [orgId],
  );
  return r.rows.map(toCheckpoint);
}

/** The checkpoint that covers an event with this transaction id and month, if sealed. */
export async function checkpointCovering(
  q: Queryable,
  orgId: string,
  txId: string,
  month: string,
): Promise<StoredCheckpoint | undefined> {
  const r = await q.query<HeadRow>(
    `select ${headColumns} from audit.checkpoints c
      where c.organization_id = $1 and c.tx_from <= $2::xid8 and c.tx_to > $2::xid8
        and c.month = to_date($3, 'YYYY-MM')
      order by c.tx_from desc limit 1`,
    [orgId, txId, month],
  );
  return r.rows[0] ? toCheckpoint(r.rows[0]) : undefined;
}

/** Loads a checkpoint's event ids and leaf hashes. */
export async function checkpointLeaves(
  q: Queryable,
  orgId: string,
  seq: number,
): Promise<CheckpointLeaves> {
  const r = await q.query<{ event_ids: Buffer; leaf_hashes: Buffer }>(
    'select event_ids, leaf_hashes from audit.checkpoints where organization_id = $1 and seq = $2',
    [orgId, seq],
  );
  const row = r.rows[0];
  if (!row) return { eventIds: [], leafHashes: [] };
  const eventIds: number[] = [];
  for (let i = 0; i + 8 <= row.event_ids.length; i += 8) {
    eventIds.push(Number(row.event_ids.readBigInt64BE(i)));
  }
  const leafHashes: Buffer[] = [];
  for (let i = 0; i + 32 <= row.leaf_hashes.length; i += 32) {
    leafHashes.push(row.leaf_hashes.subarray(i, i + 32));
  }
  return { eventIds, leafHashes };
}

/** A checkpoint's per-leaf data as stored: 8-byte big-endian ids and 32-byte hashes, back to back. */
export interface CheckpointLeafBlobs {
  readonly eventIds: Buffer;
  readonly leafHashes: Buffer;
}

/** Loads a checkpoint's event ids and leaf hashes without splitting them (the verifier's bulk path). */
export async function checkpointLeafBlobs(
  q: Queryable,
  orgId: string,
  seq: number,
): Promise<CheckpointLeafBlobs> {
  const r = await q.query<{ event_ids: Buffer; leaf_hashes: Buffer }>(
    'select event_ids, leaf_hashes from audit.checkpoints where organization_id = $1 and seq = $2',
    [orgId, seq],
  );
  const row = r.rows[0];
  return row
    ? { eventIds: row.event_ids, leafHashes: row.leaf_hashes }
    : { eventIds: Buffer.alloc(0), leafHashes: Buffer.alloc(0) };
}

/** Stores a signed checkpoint with its leaf data. */
export async function insertCheckpoint(
  q: Queryable,
  c: StoredCheckpoint,
  leaves: CheckpointLeaves,
): Promise<void> {
  const ids = Buffer.alloc(8 * leaves.eventIds.length);
  leaves.eventIds.forEach((id, i) => ids.writeBigInt64BE(BigInt(id), 8 * i));
  await q.query(
    `insert into audit.checkpoints (organization_id, seq, month, tx_from, tx_to, size, first_id,
       last_id, root, prev_hash, hash, key_id, signature, sealed_at, event_ids, leaf_hashes)
     values ($1, $2, to_date($3, 'YYYY-MM'), $4::xid8, $5::xid8, $6, $7, $8, $9, $10, $11, $12, $13,
             $14::timestamptz, $15, $16)`,
    [
      c.orgId,
      c.seq,
      c.month,
      c.txFrom,
      c.txTo,
      c.size,
      c.firstId,
      c.lastId,
      c.root,
      c.prevHash,
      c.hash,
      c.keyId,
      c.signature,
      c.sealedAt,
      ids,
      Buffer.concat(leaves.leafHashes),
    ],
  );
}

/**
 * Every organization that has events or checkpoints, found by a skip scan over the
 * (organization_id, …) indexes rather than by reading every event.
 */
export async function chainOrganizations(q: Queryable): Promise<string[]> {
  const r = await q.query<{ org: string }>(`
    with recursive e(org) as (
      (select organization_id from audit.events order by organization_id limit 1)
      union all
      select (select x.organization_id from audit.events x where x.organization_id > e.org
               order by x.organization_id limit 1)
        from e where e.org is not null
    )
    select org::text as org from e where org is not null
    union
    select distinct organization_id::text from audit.checkpoints
    order by 1`);
  return r.rows.map((x) => x.org);
}
