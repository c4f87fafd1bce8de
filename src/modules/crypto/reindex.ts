import { ident, isUuid, qualified, type Database, type Tx } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import { Pace, batchLimit, cipherSlices } from './batch-pace.ts';
import { hashNormalized, indexInput } from './blind-index.ts';
import { FieldCodec } from './codec.ts';
import { keyMiss, type Keyring } from './keyring.ts';
import { changedSince, currentNormalization, tryNormalize } from './normalize.ts';
import {
  advancePass,
  columnNormalizations,
  completeColumns,
  indexRootDestroyed,
  indexedOrganizations,
  lockPass,
  startPass,
  type IndexedOrganization,
} from './reindex-repo.ts';
import {
  columnRegistry,
  qualifiedColumn,
  type BlindIndexColumn,
  type ColumnRegistry,
} from './registry.ts';
import type { SecurityEvents } from './security-events.ts';

/** Options of one reindex run. */
export interface ReindexOptions {
  /**
   * Only this organization, and every column whose rules ever changed even if it is recorded
   * as current (a repair pass). Default: every organization with a column not yet current or a
   * pass left unfinished.
   */
  readonly orgId?: string;
  /** Rows per transaction (default 500). */
  readonly batchSize?: number;
  /** Upper bound on rows visited per second; batches are cut to at most this many rows. */
  readonly maxRowsPerSecond?: number;
  /** Called after every batch with the running totals. */
  readonly onProgress?: (p: ReindexProgress) => void;
  readonly registry?: ColumnRegistry;
}

/** Running totals of one organization's table. */
export interface ReindexProgress {
  readonly orgId: string;
  readonly table: string;
  /** Rows visited in this run. */
  readonly done: number;
  /** Rows this run had left to visit when it started on the table. */
  readonly total: number;
}

/** What a reindex run did for one organization. */
export interface ReindexResult {
  readonly orgId: string;
  /** The normalization version the columns were moved to. */
  readonly normalization: number;
  /** Columns recorded as current by this run (schema.table.column). */
  readonly completed: string[];
  /** Rows visited. */
  scanned: number;
  /** Index values rewritten (those whose normalization changed). */
  reindexed: number;
  /** Values the current rules refuse: they keep their old index (see `unindexableRows`). */
  unindexable: number;
  /** Values that failed authentication (a `crypto.decrypt_failed` event each); left as they are. */
  failed: number;
  /** The first 100 values the current rules refuse, by column and row id, for correction. */
  readonly unindexableRows: { column: string; rowId: string }[];
}

/** What a reindex run did. */
export interface ReindexReport {
  readonly organizations: ReindexResult[];
}

/** What the reindex job needs; `codec`, when given, also learns when a column completes. */
export interface ReindexDeps {
  readonly db: Database;
  readonly keyring: Keyring;
  readonly events: SecurityEvents;
  readonly codec?: FieldCodec;
}

const job = (reason: string, orgId?: string) => ({
  name: 'crypto.reindex',
  reason,
  ...(orgId ? { orgId } : {}),
});

/** Rounds of compare-and-swap a batch retries for rows that changed under it. */
const casRounds = 3;

/**
 * Recomputes blind indexes from the decrypted source values so that every stored index is in
 * the current normalization, online and in batches. Each batch writes only the indexes whose
 * value changes, with a compare-and-swap on the sources and the index it read (a row a request
 * changed meanwhile is read again, never overwritten with a stale index), and advances the
 * persisted cursor in the same transaction: the job can be killed at any point, resumes where
 * it stopped, and running it again is harmless. The batch that reaches a table's end records
 * its columns as current and the `crypto.reindex_completed` audit event, in one transaction;
 * from then on search looks up only the current form.
 */
export async function reindexBlindIndexes(
  d: ReindexDeps,
  opts: ReindexOptions = {},
): Promise<ReindexReport> {
  if (opts.orgId !== undefined && !isUuid(opts.orgId))
    throw new WardError('bad_request', 'The organization id must be a UUID');
  const orgId = opts.orgId?.toLowerCase();
  const registry = opts.registry ?? columnRegistry;
  const codec = d.codec ?? new FieldCodec(d.keyring, d.events);
  const batchSize = batchLimit(opts.batchSize ?? 500, opts.maxRowsPerSecond);
  const tables = indexedTables(registry.blindIndexes());
  const columns = registry.blindIndexes().map(qualifiedColumn);
  const plans = await d.db.asSystem(
    job('finds blind indexes not in the current normalization', orgId),
    async (tx) => {
      const orgs = await indexedOrganizations(tx, orgId);
      if (orgId && orgs.length === 0) {
        if (await indexRootDestroyed(tx, orgId)) throw new WardError('key_destroyed');
        return [];
      }
      const out: { org: IndexedOrganization; work: TableWork[] }[] = [];
      for (const org of orgs) {
        const state = await columnNormalizations(tx, org, columns);
        const work = tables
          .map((t) => planTable(t, state, orgId !== undefined))
          .filter((w) => w.pass.length > 0 || w.markOnly.length > 0);
        if (work.length > 0) out.push({ org, work });
      }
      return out;
    },
  );
  const report: ReindexReport = { organizations: [] };
  for (const { org, work } of plans) {
    const result: ReindexResult = {
      orgId: org.orgId,
      normalization: currentNormalization,
      completed: [],
      scanned: 0,
      reindexed: 0,
      unindexable: 0,
      failed: 0,
      unindexableRows: [],
    };
    const pace = new Pace(opts.maxRowsPerSecond);
    for (const w of work) {
      if (w.pass.length > 0) {
        await d.db.asSystem(job('opens a blind-index reindex pass', org.orgId), (tx) =>
          startPass(tx, org, w.pass.map(qualifiedColumn), currentNormalization),
        );
      }
      const total = w.pass.length > 0 ? await rowsLeft(d.db, org.orgId, w.table) : 0;
      const started = result.scanned;
      for (;;) {
        const batch = await reindexBatch(d, codec, org.orgId, w, batchSize, result);
        opts.onProgress?.({
          orgId: org.orgId,
          table: `${w.table.schema}.${w.table.table}`,
          done: result.scanned - started,
          total,
        });
        if (batch.completed) result.completed.push(...batch.completed);
        if (batch.finished) break;
        await pace.after(result.scanned);
      }
    }
    if (result.completed.length > 0) d.codec?.forgetIndexFloors(org.orgId);
    report.organizations.push(result);
  }
  return report;
}

/** A table's blind indexes, reindexed together: one read and at most one write per row. */
interface IndexedTable {
  readonly schema: string;
  readonly table: string;
  readonly idColumn: string;
  readonly indexes: readonly BlindIndexColumn[];
}

/** What a run does with one table of one organization. */
interface TableWork {
  readonly table: IndexedTable;
  /** Columns whose rows are visited and recomputed. */
  readonly pass: readonly BlindIndexColumn[];
  /** Columns recorded as current without a visit (their rules did not change since their floor). */
  readonly markOnly: readonly BlindIndexColumn[];
}

function indexedTables(indexes: readonly BlindIndexColumn[]): IndexedTable[] {
  const byTable = new Map<string, IndexedTable & { indexes: BlindIndexColumn[] }>();
  for (const b of indexes) {
    const key = `${b.schema}.${b.table}(${b.idColumn})`;
    const t = byTable.get(key);
    if (t) t.indexes.push(b);
    else byTable.set(key, { schema: b.schema, table: b.table, idColumn: b.idColumn, indexes: [b] });
  }
  return [...byTable.values()];
}

function planTable(
  t: IndexedTable,
  state: ReadonlyMap<string, { floor: number; reindexTo: number | null }>,
  repair: boolean,
): TableWork {
  const pass: BlindIndexColumn[] = [];
  const markOnly: BlindIndexColumn[] = [];
  for (const b of t.indexes) {
    const s = state.get(qualifiedColumn(b));
    const floor = s?.floor ?? 1;
    if (s?.reindexTo != null || changedSince(b.kind, floor) || (repair && changedSince(b.kind, 1)))
      pass.push(b);
    else if (floor < currentNormalization) markOnly.push(b);
  }
  // Recorded with the table's pass when there is one, so one event names the whole table.
  return { table: t, pass, markOnly };
}

async function rowsLeft(db: Database, orgId: string, t: IndexedTable): Promise<number> {
  return db.asSystem(job('counts rows left to reindex', orgId), async (tx) => {
    const cols = t.indexes.map(qualifiedColumn);
    const cursor = await tx.query<{ cursor: string | null }>(
      `select max(reindex_cursor::text) as cursor from ward.blind_index_normalization
        where organization_id = $1 and column_name = any($2::text[]) and reindex_to is not null`,
      [orgId, cols],
    );
    const r = await tx.query<{ n: number }>(
      `select count(*)::int as n from ${qualified(t.schema, t.table)}
        where organization_id = $1 and ($2::uuid is null or ${ident(t.idColumn)} > $2::uuid)`,
      [orgId, cursor.rows[0]?.cursor ?? null],
    );
    return r.rows[0]?.n ?? 0;
  });
}

/** A row as a batch read it: its id, the sources and indexes by column name. */
type ReadRow = Record<string, unknown> & { id: string };

/** One index value to write: the row, the column's position in the pass, old and new index. */
interface Write {
  readonly row: ReadRow;
  readonly k: number;
  readonly next: Buffer;
}

/**
 * One batch of a table: the next rows after the cursor, each pass column's index recomputed
 * from its decrypted sources, the changed ones written by compare-and-swap (rows that changed
 * meanwhile are read again and retried), and the cursor advanced — or, at the table's end,
 * the columns recorded as current with their audit event, all in one transaction.
 */
async function reindexBatch(
  d: ReindexDeps,
  codec: FieldCodec,
  orgId: string,
  w: TableWork,
  rowLimit: number,
  result: ReindexResult,
): Promise<{ finished: boolean; completed?: string[] }> {
  const passColumns = w.pass.map(qualifiedColumn);
  return d.db.asSystem(job('recomputes blind indexes from decrypted values', orgId), async (tx) => {
    let rows: ReadRow[] = [];
    if (w.pass.length > 0) {
      const lock = await lockPass(tx, orgId, passColumns, currentNormalization);
      if (!lock) return { finished: true };
      rows = await readRows(tx, orgId, w, { after: lock.cursor, limit: rowLimit });
      result.scanned += rows.length;
      let pending = await computeWrites(d, codec, tx, orgId, w, rows, result, true);
      for (let round = 1; pending.length > 0; round++) {
        if (round > casRounds)
          throw new WardError(
            'conflict',
            'Rows kept changing during the reindex; run `ward keys reindex` again',
          );
        const { written, missed } = await writeIndexes(tx, orgId, w, pending);
        result.reindexed += written;
        if (missed.size === 0) break;
        // Changed by another transaction since the read: read them again (this statement
        // sees what it committed) and recompute from what they hold now.
        const again = await readRows(tx, orgId, w, { ids: [...missed] });
        pending = await computeWrites(d, codec, tx, orgId, w, again, result, false);
      }
    }
    const last = rows.at(-1);
    if (w.pass.length > 0 && rows.length === rowLimit && last) {
      await advancePass(tx, orgId, passColumns, last.id);
      return { finished: false };
    }
    const completed = [...w.pass, ...w.markOnly].map(qualifiedColumn).sort();
    await completeColumns(tx, orgId, completed, currentNormalization);
    // Recorded with the completion itself: search narrows to the current form exactly when
    // its record commits.
    await d.events.recordIn(tx, {
      type: 'crypto.reindex_completed',
      orgId,
      columns: completed,
      normalization: currentNormalization,
    });
    return { finished: true, completed };
  });
}

/** The distinct source columns of a pass, in order of first use. */
function sourcesOf(w: TableWork): string[] {
  return [...new Set(w.pass.flatMap((b) => b.sources))];
}

async function readRows(
  tx: Tx,
  orgId: string,
  w: TableWork,
  which: { after: string | null; limit: number } | { ids: string[] },
): Promise<ReadRow[]> {
  const id = ident(w.table.idColumn);
  const cols = [...sourcesOf(w), ...w.pass.map((b) => b.column)].map(ident).join(', ');
  const rel = qualified(w.table.schema, w.table.table);
  const r =
    'ids' in which
      ? await tx.query<ReadRow>(
          `select ${id}::text as id, ${cols} from ${rel}
            where organization_id = $1 and ${id} = any($2::uuid[]) order by ${id}`,
          [orgId, which.ids],
        )
      : await tx.query<ReadRow>(
          `select ${id}::text as id, ${cols} from ${rel}
            where organization_id = $1 and ($2::uuid is null or ${id} > $2::uuid)
            order by ${id} limit $3`,
          [orgId, which.after, which.limit],
        );
  return r.rows;
}

/**
 * The index values of `rows` that differ from what the current rules compute. Values that fail
 * to decrypt or that the current rules refuse are counted (once, on the first read) and left.
 */
async function computeWrites(
  d: ReindexDeps,
  codec: FieldCodec,
  tx: Tx,
  orgId: string,
  w: TableWork,
  rows: readonly ReadRow[],
  result: ReindexResult,
  count: boolean,
): Promise<Write[]> {
  const table = `${w.table.schema}.${w.table.table}`;
  const encrypted = sourcesOf(w).filter((s) => s.endsWith('_encrypted'));
  const slice = cipherSlices();
  const forms: { row: ReadRow; k: number; normalized: string }[] = [];
  for (const row of rows) {
    let plain: Record<string, string | null>;
    try {
      await slice();
      plain = await codec.decryptRow(
        tx,
        { orgId, table, rowId: row.id },
        row as Record<string, Buffer | null>,
        encrypted,
      );
    } catch (e) {
      // Reported as a crypto.decrypt_failed event by the codec; the row keeps its indexes.
      if (!isWardError(e, 'decrypt_failed')) throw e;
      if (count) result.failed += w.pass.filter((b) => row[b.column] != null).length;
      continue;
    }
    for (const [k, b] of w.pass.entries()) {
      const values = b.sources.map((s) =>
        s.endsWith('_encrypted') ? (plain[s] ?? null) : (row[s] as string | null),
      );
      const input = indexInput(b.kind, values);
      if (input === null) continue;
      const normalized = tryNormalize(b.kind, input, currentNormalization);
      if (normalized === undefined) {
        if (count) {
          result.unindexable++;
          if (result.unindexableRows.length < 100)
            result.unindexableRows.push({ column: qualifiedColumn(b), rowId: row.id });
        }
        continue;
      }
      forms.push({ row, k, normalized });
    }
  }
  const writes: Write[] = [];
  for (const [k, b] of w.pass.entries()) {
    const mine = forms.filter((f) => f.k === k);
    if (mine.length === 0) continue;
    const hash = (key: Buffer) => mine.map((f) => hashNormalized(key, f.normalized, b.bits));
    const column = qualifiedColumn(b);
    const cached = d.keyring.cachedIndexKey(orgId, column, hash);
    const hashes =
      cached !== keyMiss ? cached : await d.keyring.withIndexKey(tx, orgId, column, hash);
    for (const [i, f] of mine.entries()) {
      const next = hashes[i];
      const stored = f.row[b.column] as Buffer | null;
      if (next && !(stored && next.equals(stored))) writes.push({ row: f.row, k, next });
    }
  }
  return writes;
}

/**
 * Writes `writes` with one UPDATE that compares and swaps each index column on its own: a
 * value is written only if the column still holds the index the batch read and every source
 * it was computed from still holds the value the batch read (a ciphertext is never written
 * twice alike, so any write of a source shows). Returns how many values were written and the
 * ids of rows where some intended value was not.
 */
async function writeIndexes(
  tx: Tx,
  orgId: string,
  w: TableWork,
  writes: readonly Write[],
): Promise<{ written: number; missed: Set<string> }> {
  const rows = [...new Map(writes.map((x) => [x.row.id, x.row])).values()];
  const sources = sourcesOf(w);
  const typeOf = (s: string) => (s.endsWith('_encrypted') ? 'bytea' : 'text');
  // Parameters: $1 organization, $2 ids, then each source's read values, then each pass
  // column's read and new index.
  const params: unknown[] = [orgId, rows.map((r) => r.id)];
  const src = sources.map((s) => {
    params.push(rows.map((r) => r[s] ?? null));
    return { s, p: `$${params.length}::${typeOf(s)}[]`, alias: `s${sources.indexOf(s)}` };
  });
  const cols = w.pass.map((b, k) => {
    params.push(rows.map((r) => r[b.column] ?? null));
    const o = `$${params.length}::bytea[]`;
    params.push(rows.map((r) => writes.find((x) => x.row.id === r.id && x.k === k)?.next ?? null));
    const n = `$${params.length}::bytea[]`;
    const sameSources = b.sources
      .map((s) => `t.${ident(s)} is not distinct from v.s${sources.indexOf(s)}`)
      .join(' and ');
    const c = ident(b.column);
    return {
      c,
      k,
      unnest: `unnest(${o}) as o${k}, unnest(${n}) as n${k}`,
      swap: `(v.n${k} is not null and t.${c} is not distinct from v.o${k} and ${sameSources})`,
    };
  });
  const id = ident(w.table.idColumn);
  const r = await tx.query<Record<string, unknown> & { id: string }>(
    `update ${qualified(w.table.schema, w.table.table)} t
        set ${cols.map((x) => `${x.c} = case when ${x.swap} then v.n${x.k} else t.${x.c} end`).join(', ')}
       from (select unnest($2::uuid[]) as id, ${[
         ...src.map((x) => `unnest(${x.p}) as ${x.alias}`),
         ...cols.map((x) => x.unnest),
       ].join(', ')}) v
      where t.organization_id = $1 and t.${id} = v.id and (${cols.map((x) => x.swap).join(' or ')})
      returning t.${id}::text as id, ${cols
        .map(
          (x) => `(v.n${x.k} is not null and t.${x.c} is not distinct from v.n${x.k}) as w${x.k}`,
        )
        .join(', ')}`,
    params,
  );
  const swapped = new Map(r.rows.map((x) => [x.id, x]));
  const missed = new Set<string>();
  let written = 0;
  for (const x of writes) {
    if (swapped.get(x.row.id)?.[`w${x.k}`] === true) written++;
    else missed.add(x.row.id);
  }
  return { written, missed };
}
