import type { Database, Tx } from '../../platform/db/index.ts';
import { firstRow } from '../../platform/db/index.ts';
import {
  checkpointHash,
  checkpointPayload,
  genesisHash,
  type Checkpoint,
} from './checkpoint-format.ts';
import { chainOrganizations, insertCheckpoint, lastCheckpoint } from './checkpoints-repo.ts';
import { batchBounds, leafDigestsInRange } from './events-source.ts';
import type { LeafDigest } from './leaf-copy.ts';
import { merkleRoot } from './merkle.ts';
import { sealLockKey } from './seal-lock.ts';
import { insertExternalSigningKey } from './signing-keys-repo.ts';
import type { CheckpointSigner, SignerSource } from './signer.ts';

/** Batches sealed per organization in one round (one transaction) before it commits. */
const batchesPerRound = 10;

/** Options for one sealing pass. */
export interface SealOptions {
  /** Target largest batch; one transaction's events are never split (default 20,000). */
  readonly maxBatch?: number;
  /** Stop after this many rounds even if more is pending (default 50). */
  readonly maxRounds?: number;
}

/** What a sealing pass did. */
export interface SealResult {
  readonly checkpoints: number;
  readonly events: number;
  /** Organizations whose chain grew. */
  readonly organizations: number;
}

/**
 * Seals committed events into signed checkpoints, per organization chain. A batch is every
 * event of the organization whose inserting transaction id lies in [previous horizon, H),
 * where H is the oldest transaction still running when the sealer looks (capped at its own):
 * every transaction below H has finished, so no in-flight transaction can add to a batch
 * later, and nothing committed is skipped, because the next batch starts exactly at H.
 */
export async function seal(
  db: Database,
  signer: CheckpointSigner | SignerSource,
  opts: SealOptions = {},
): Promise<SealResult> {
  const maxBatch = opts.maxBatch ?? 20_000;
  let checkpoints = 0;
  let events = 0;
  const grown = new Set<string>();
  for (let round = 0; round < (opts.maxRounds ?? 50); round++) {
    const r = await db.asSystem(
      { name: 'audit.seal', reason: "seals every organization's audit events into its chain" },
      (tx) => sealRound(tx, signer, maxBatch),
    );
    checkpoints += r.checkpoints;
    events += r.events;
    for (const o of r.grown) grown.add(o);
    if (!r.more) break;
  }
  return { checkpoints, events, organizations: grown.size };
}

interface RoundResult {
  checkpoints: number;
  events: number;
  grown: string[];
  /** Some chain stopped at the batch cap and has more to seal. */
  more: boolean;
}

async function sealRound(
  tx: Tx,
  source: CheckpointSigner | SignerSource,
  maxBatch: number,
): Promise<RoundResult> {
  await tx.query('select pg_advisory_xact_lock($1)', [sealLockKey]);
  let signer: CheckpointSigner;
  if ('signerFor' in source) {
    signer = await source.signerFor(tx);
  } else {
    // A signer handed in (tests, benchmarks): its public key is recorded as external.
    signer = source;
    await insertExternalSigningKey(tx, signer.keyId, signer.publicKey);
  }
  const horizon = firstRow(
    await tx.query<{ h: string }>(
      'select least(pg_snapshot_xmin(pg_current_snapshot()), pg_current_xact_id())::text as h',
    ),
  ).h;
  const out: RoundResult = { checkpoints: 0, events: 0, grown: [], more: false };
  // On PostgreSQL the next batch's rows are requested before this one is hashed and written,
  // so the server reads batch k+1 while this process hashes batch k (the statements queue in
  // order on the one connection). The embedded engine runs one statement at a time.
  const pipelined = tx.engine === 'postgres';
  for (const orgId of await chainOrganizations(tx)) {
    const last = await lastCheckpoint(tx, orgId);
    let lo = last?.txTo ?? '0';
    if (BigInt(lo) >= BigInt(horizon)) continue;
    let plan = await planBatch(tx, orgId, lo, horizon, maxBatch);
    if (!plan) continue;
    let rows: Promise<LeafDigest[]> = leafDigestsInRange(tx, orgId, lo, plan.hi);
    let prev = last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: genesisHash };
    for (let n = 1; plan; n++) {
      const hi = plan.hi;
      let next: BatchPlan | undefined;
      let nextRows: Promise<LeafDigest[]> | undefined;
      const another = plan.more && n < batchesPerRound;
      if (plan.more && !another) out.more = true;
      if (another && pipelined) {
        next = await planBatch(tx, orgId, hi, horizon, maxBatch);
        if (next) nextRows = leafDigestsInRange(tx, orgId, hi, next.hi);
        nextRows?.catch(() => undefined);
      }
      for (const [month, batch] of byMonth(await rows)) {
        prev = await writeCheckpoint(
          tx,
          signer,
          orgId,
          prev,
          { month, txFrom: lo, txTo: hi },
          batch,
        );
        out.checkpoints += 1;
        out.events += batch.length;
      }
      if (another && !pipelined) {
        next = await planBatch(tx, orgId, hi, horizon, maxBatch);
        if (next) nextRows = leafDigestsInRange(tx, orgId, hi, next.hi);
      }
      lo = hi;
      plan = next;
      if (nextRows) rows = nextRows;
    }
    out.grown.push(orgId);
  }
  return out;
}

/** The end of the next batch and whether more events wait behind it. */
interface BatchPlan {
  readonly hi: string;
  readonly more: boolean;
}

/**
 * Plans the batch that starts at `lo`: it ends before the transaction of the event `maxBatch`
 * places further on (so a batch stays near the cap without splitting one transaction), or at
 * the horizon. When the first transaction alone holds more than the cap, it still forms one
 * batch. Undefined when nothing is waiting below the horizon.
 */
async function planBatch(
  tx: Tx,
  orgId: string,
  lo: string,
  horizon: string,
  maxBatch: number,
): Promise<BatchPlan | undefined> {
  const { first, cut } = await batchBounds(tx, orgId, lo, horizon, maxBatch);
  if (first === null) return undefined;
  if (cut === null) return { hi: horizon, more: false };
  if (cut === first) return { hi: (BigInt(cut) + 1n).toString(), more: true };
  return { hi: cut, more: true };
}

/** Groups events (already in id order) by month, months ascending. */
function byMonth(rows: readonly LeafDigest[]): [string, LeafDigest[]][] {
  const groups = new Map<string, LeafDigest[]>();
  for (const r of rows) {
    const g = groups.get(r.month);
    if (g) g.push(r);
    else groups.set(r.month, [r]);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function writeCheckpoint(
  tx: Tx,
  signer: CheckpointSigner,
  orgId: string,
  prev: { seq: number; hash: Buffer },
  range: { month: string; txFrom: string; txTo: string },
  batch: readonly LeafDigest[],
): Promise<{ seq: number; hash: Buffer }> {
  const leafHashes = batch.map((e) => e.hash);
  const first = batch[0] as LeafDigest;
  const lastRow = batch[batch.length - 1] as LeafDigest;
  const c: Checkpoint = {
    orgId,
    seq: prev.seq + 1,
    ...range,
    size: batch.length,
    firstId: first.id,
    lastId: lastRow.id,
    root: merkleRoot(leafHashes),
    prevHash: prev.hash,
    sealedAt: new Date().toISOString(),
    keyId: signer.keyId,
  };
  const payload = checkpointPayload(c);
  const hash = checkpointHash(payload);
  await insertCheckpoint(
    tx,
    { ...c, hash, signature: signer.sign(payload) },
    { eventIds: batch.map((e) => e.id), leafHashes },
  );
  return { seq: c.seq, hash };
}
