import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { diffBatch } from './batch-diff.ts';
import {
  checkpointHash,
  checkpointPayload,
  genesisHash,
  type ExportedCheckpoint,
} from './checkpoint-format.ts';
import {
  checkpointLeafBlobs,
  checkpointLeaves,
  listCheckpoints,
  type CheckpointLeafBlobs,
  type CheckpointLeaves,
  type StoredCheckpoint,
} from './checkpoints-repo.ts';
import type { EventRow } from './leaf.ts';
import type { LeafDigest } from './leaf-copy.ts';
import { countUnsealed, eventsInRange, leafDigestsInRange } from './events-source.ts';
import { merkleRoot, merkleRootOfConcatenated } from './merkle.ts';
import { keyIdFor, verifySignature, type TrustedKey } from './signer.ts';

/** Every way verification can fail, each naming where. */
export type VerifyFailureKind =
  | 'modified'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'bad-signature'
  | 'untrusted-key'
  | 'checkpoint-modified'
  | 'chain-broken'
  | 'truncated'
  | 'forked';

/** The first failure found in a chain. */
export interface VerifyFailure {
  readonly kind: VerifyFailureKind;
  readonly orgId: string;
  /** The checkpoint (batch) where it was found. */
  readonly seq?: number;
  readonly eventId?: number;
  readonly detail: string;
}

/** The outcome for one organization's chain. */
export interface ChainReport {
  readonly orgId: string;
  readonly checkpoints: number;
  readonly events: number;
  /** Checkpoints whose partitions were exported by retention: chain and signature only. */
  readonly archivedCheckpoints: number;
  /** Events not sealed yet (newer than the last checkpoint). */
  readonly unsealed: number;
  readonly failure?: VerifyFailure;
}

/** What verifying one chain needs. */
export interface ChainCheck {
  readonly orgId: string;
  readonly trustedKeys: readonly TrustedKey[];
  /** Stored keys the KEK did not vouch for, with why: named when a checkpoint uses one. */
  readonly distrustedKeys?: ReadonlyMap<string, string>;
  /** Months (`YYYY-MM`) whose partitions retention exported and dropped. */
  readonly archivedMonths: ReadonlySet<string>;
  /** An externally kept checkpoint of this chain that the database must still contain. */
  readonly anchor?: { readonly seq: number; readonly hash: Buffer };
  readonly onEvents?: (n: number) => void;
}

/**
 * Recomputes one chain from scratch: each checkpoint's payload, hash, signature and link to
 * its predecessor; the contiguity of the transaction ranges; each batch's leaves against the
 * events now in the table (naming the first event that was modified, deleted, inserted or
 * reordered) and its Merkle root; and, given an anchor, that the chain still reaches it.
 */
export async function verifyChain(q: Tx, check: ChainCheck): Promise<ChainReport> {
  const heads = await listCheckpoints(q, check.orgId);
  const keys = new Map(check.trustedKeys.map((k) => [k.keyId, k.publicKey]));
  const groups = byRange(heads);
  let events = 0;
  let archived = 0;
  let prevHash: Buffer = genesisHash;
  let prevTo = '0';
  let seq = 0;

  // Each group's rows and leaf data are requested one group ahead on PostgreSQL, so the server
  // reads group g+1 while this process hashes group g (one connection, queued in order). The
  // embedded engine runs one statement at a time and fetches each group when it gets there.
  const pipelined = q.engine === 'postgres';
  const fetchGroup = (group: readonly StoredCheckpoint[]): Promise<GroupData | undefined> =>
    fetchGroupData(q, check, group, pipelined);
  let pending: Promise<GroupData | undefined> | undefined;
  const startFetch = (i: number): void => {
    const group = groups[i];
    if (!group) return;
    pending = fetchGroup(group);
    // Handled here too, so a failure elsewhere never leaves an unobserved rejection behind.
    pending.catch(() => undefined);
  };
  const fail = async (f: Omit<VerifyFailure, 'orgId'>): Promise<ChainReport> => {
    await pending?.catch(() => undefined);
    return {
      orgId: check.orgId,
      checkpoints: heads.length,
      events,
      archivedCheckpoints: archived,
      unsealed: await countUnsealed(q, check.orgId, prevTo),
      failure: { orgId: check.orgId, ...f },
    };
  };

  if (pipelined) startFetch(0);
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g] as StoredCheckpoint[];
    const first = group[0] as StoredCheckpoint;
    if (!pipelined) startFetch(g);
    const current = pending;
    pending = undefined;
    for (const c of group) {
      if (c.seq !== ++seq) {
        pending = current;
        return fail({
          kind: 'chain-broken',
          seq,
          detail: `checkpoint ${seq} is missing from the chain`,
        });
      }
      const problem = checkHead(c, keys, prevHash, check.distrustedKeys);
      if (problem) {
        pending = current;
        return fail({ seq: c.seq, ...problem });
      }
      prevHash = c.hash;
    }
    const monthsAscending = group.every(
      (c, j) => j === 0 || (group[j - 1] as StoredCheckpoint).month < c.month,
    );
    if (first.txFrom !== prevTo || !monthsAscending || BigInt(first.txFrom) >= BigInt(first.txTo)) {
      pending = current;
      return fail({
        kind: 'chain-broken',
        seq: first.seq,
        detail: `checkpoint ${first.seq} covers transactions [${first.txFrom}, ${first.txTo}) but the chain so far ends at ${prevTo}`,
      });
    }
    const data = await current;
    if (pipelined) startFetch(g + 1);
    archived += group.length - (data?.live.length ?? 0);
    if (data) {
      const counted = (n: number): void => {
        events += n;
        check.onEvents?.(n);
      };
      if ('digests' in data) {
        // The bulk path only says "all equal"; anything else is re-read and examined by the
        // row path, which names the first difference exactly as it always has.
        if (groupMatches(check, data)) {
          for (const c of data.live) counted(c.size);
        } else {
          const rows = await fetchGroupData(q, check, group, false);
          const problem =
            rows && 'rows' in rows ? checkGroup(check, first, rows, counted) : undefined;
          if (problem) return fail(problem);
        }
      } else {
        const problem = checkGroup(check, first, data, counted);
        if (problem) return fail(problem);
      }
    }
    prevTo = first.txTo;
  }

  if (check.anchor) {
    const at = heads.find((c) => c.seq === check.anchor?.seq);
    if (!at) {
      return fail({
        kind: 'truncated',
        seq: check.anchor.seq,
        detail: `the exported checkpoint ${check.anchor.seq} is missing: the chain ends at ${heads.at(-1)?.seq ?? 0}`,
      });
    }
    if (!at.hash.equals(check.anchor.hash)) {
      return fail({
        kind: 'forked',
        seq: at.seq,
        detail: `checkpoint ${at.seq} differs from the exported one: it was replaced`,
      });
    }
  }
  return {
    orgId: check.orgId,
    checkpoints: heads.length,
    events,
    archivedCheckpoints: archived,
    unsealed: await countUnsealed(q, check.orgId, prevTo),
  };
}

/** Checkpoints sharing one transaction range (one sealing batch split by month). */
function byRange(heads: readonly StoredCheckpoint[]): StoredCheckpoint[][] {
  const groups: StoredCheckpoint[][] = [];
  for (const c of heads) {
    const last = groups.at(-1);
    const head = last?.[0];
    if (last && head && head.txFrom === c.txFrom && head.txTo === c.txTo) last.push(c);
    else groups.push([c]);
  }
  return groups;
}

/** What one group's check needs from the database: its rows, or (bulk path) their digests. */
type GroupData = RowGroupData | DigestGroupData;

interface RowGroupData {
  /** The group's checkpoints whose partitions are still live (not archived). */
  readonly live: readonly StoredCheckpoint[];
  readonly rows: readonly EventRow[];
  readonly leaves: readonly CheckpointLeaves[];
}

interface DigestGroupData {
  readonly live: readonly StoredCheckpoint[];
  readonly digests: readonly LeafDigest[];
  readonly stored: readonly CheckpointLeafBlobs[];
}

async function fetchGroupData(
  q: Tx,
  check: ChainCheck,
  group: readonly StoredCheckpoint[],
  concurrently: boolean,
): Promise<GroupData | undefined> {
  const first = group[0] as StoredCheckpoint;
  const live = group.filter((c) => !check.archivedMonths.has(c.month));
  if (live.length === 0) return undefined;
  if (concurrently && q.copyRows) {
    const [digests, ...stored] = await Promise.all([
      leafDigestsInRange(q, check.orgId, first.txFrom, first.txTo),
      ...live.map((c) => checkpointLeafBlobs(q, check.orgId, c.seq)),
    ]);
    return { live, digests, stored };
  }
  if (concurrently) {
    const [rows, ...leaves] = await Promise.all([
      eventsInRange(q, check.orgId, first.txFrom, first.txTo),
      ...live.map((c) => checkpointLeaves(q, check.orgId, c.seq)),
    ]);
    return { live, rows, leaves };
  }
  const rows = await eventsInRange(q, check.orgId, first.txFrom, first.txTo);
  const leaves: CheckpointLeaves[] = [];
  for (const c of live) leaves.push(await checkpointLeaves(q, check.orgId, c.seq));
  return { live, rows, leaves };
}

/**
 * Whether a group passes every check `checkGroup` makes, from digests: each live checkpoint's
 * stored leaf hashes give its signed root, and the events of its month are exactly its stored
 * ids with exactly its stored leaf hashes, in order; no live month has events no checkpoint
 * covers. False means "look closer", never "fine".
 */
function groupMatches(check: ChainCheck, data: DigestGroupData): boolean {
  const byMonth = new Map<string, LeafDigest[]>();
  for (const d of data.digests) {
    const g = byMonth.get(d.month);
    if (g) g.push(d);
    else byMonth.set(d.month, [d]);
  }
  for (const [j, c] of data.live.entries()) {
    const stored = data.stored[j] as CheckpointLeafBlobs;
    const batch = byMonth.get(c.month) ?? [];
    byMonth.delete(c.month);
    if (
      batch.length !== c.size ||
      stored.eventIds.length !== 8 * c.size ||
      stored.leafHashes.length !== 32 * c.size ||
      !merkleRootOfConcatenated(stored.leafHashes).equals(c.root)
    ) {
      return false;
    }
    for (const [k, d] of batch.entries()) {
      const id =
        stored.eventIds.readUInt32BE(8 * k) * 2 ** 32 + stored.eventIds.readUInt32BE(8 * k + 4);
      if (d.id !== id || stored.leafHashes.compare(d.hash, 0, 32, 32 * k, 32 * k + 32) !== 0) {
        return false;
      }
    }
  }
  for (const month of byMonth.keys()) if (!check.archivedMonths.has(month)) return false;
  return true;
}

/** Checks one group's batches against the events now in the table; the first problem. */
function checkGroup(
  check: ChainCheck,
  first: StoredCheckpoint,
  data: RowGroupData,
  counted: (n: number) => void,
): Omit<VerifyFailure, 'orgId'> | undefined {
  const byMonth = new Map<string, EventRow[]>();
  for (const r of data.rows) {
    const g = byMonth.get(r.month);
    if (g) g.push(r);
    else byMonth.set(r.month, [r]);
  }
  for (const [j, c] of data.live.entries()) {
    const leaves = data.leaves[j] as CheckpointLeaves;
    if (leaves.eventIds.length !== c.size || !merkleRoot(leaves.leafHashes).equals(c.root)) {
      return {
        kind: 'checkpoint-modified',
        seq: c.seq,
        detail: `the leaf data stored with checkpoint ${c.seq} does not match its signed root`,
      };
    }
    const batch = byMonth.get(c.month) ?? [];
    byMonth.delete(c.month);
    const diff = diffBatch(leaves.eventIds, leaves.leafHashes, batch);
    if (diff) return { seq: c.seq, ...diff, detail: `checkpoint ${c.seq}: ${diff.detail}` };
    counted(batch.length);
  }
  for (const [month, stray] of byMonth) {
    if (check.archivedMonths.has(month)) continue;
    const id = (stray[0] as EventRow).id;
    return {
      kind: 'inserted',
      seq: first.seq,
      eventId: id,
      detail: `event ${id} (${month}) lies in sealed transactions [${first.txFrom}, ${first.txTo}) but no checkpoint covers it`,
    };
  }
  return undefined;
}

function checkHead(
  c: StoredCheckpoint,
  keys: ReadonlyMap<string, Buffer>,
  prevHash: Buffer,
  distrusted?: ReadonlyMap<string, string>,
): Omit<VerifyFailure, 'orgId' | 'seq'> | undefined {
  const payload = checkpointPayload(c);
  if (!checkpointHash(payload).equals(c.hash)) {
    return {
      kind: 'checkpoint-modified',
      detail: `checkpoint ${c.seq}'s stored hash does not match its contents`,
    };
  }
  const key = keys.get(c.keyId);
  if (!key) {
    const why = distrusted?.get(c.keyId);
    return {
      kind: 'untrusted-key',
      detail: why
        ? `checkpoint ${c.seq} is signed by key ${c.keyId}, which is not trusted: ${why}`
        : `checkpoint ${c.seq} is signed by unknown key ${c.keyId}`,
    };
  }
  if (!verifySignature(key, payload, c.signature)) {
    return { kind: 'bad-signature', detail: `checkpoint ${c.seq}'s signature does not verify` };
  }
  if (!c.prevHash.equals(prevHash)) {
    return {
      kind: 'chain-broken',
      detail: `checkpoint ${c.seq} does not link to checkpoint ${c.seq - 1}`,
    };
  }
  return undefined;
}

/**
 * The public key an exported checkpoint carries, when it is the key the checkpoint names (its
 * id is the hash of the key). The exported file is the operator's own copy kept outside the
 * database, so its key is trusted like a --public-key file.
 */
export function anchorKey(exported: ExportedCheckpoint): TrustedKey | undefined {
  if (typeof exported.publicKey !== 'string' || typeof exported.keyId !== 'string')
    return undefined;
  const publicKey = Buffer.from(exported.publicKey, 'base64');
  return keyIdFor(publicKey) === exported.keyId ? { keyId: exported.keyId, publicKey } : undefined;
}

/** Reads the anchor (org, seq, hash) out of an exported checkpoint, checking its signature. */
export function anchorFrom(
  exported: ExportedCheckpoint,
  trustedKeys: readonly TrustedKey[],
): { orgId: string; seq: number; hash: Buffer } {
  const payload = Buffer.from(exported.payload, 'utf8');
  const parsed = JSON.parse(exported.payload) as { org?: unknown; seq?: unknown; keyId?: unknown };
  const key = trustedKeys.find((k) => k.keyId === parsed.keyId);
  if (
    typeof parsed.org !== 'string' ||
    typeof parsed.seq !== 'number' ||
    !key ||
    !verifySignature(key.publicKey, payload, Buffer.from(exported.signature, 'base64'))
  ) {
    throw new WardError(
      'bad_request',
      'The exported checkpoint is malformed or not signed by a trusted key',
    );
  }
  return { orgId: parsed.org, seq: parsed.seq, hash: checkpointHash(payload) };
}
