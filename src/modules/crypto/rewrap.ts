import { setTimeout as sleep } from 'node:timers/promises';
import { ident, qualified, type Database, type Tx } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import { Pace, batchLimit, cipherSlices } from './batch-pace.ts';
import { fieldKeyVersion, openField, sealField } from './field-format.ts';
import { defaultPrimaryTtlMs, keyMiss, type Keyring } from './keyring.ts';
import {
  countLegacyValues,
  encryptLegacyBatch,
  legacyExistsSql,
  legacyTables,
} from './legacy-plaintext.ts';
import { columnRegistry, type ColumnRegistry, type EncryptedColumn } from './registry.ts';
import type { SecurityEvents } from './security-events.ts';
import { versionExpr } from './value-counts.ts';

/** Options of one rewrap run. */
export interface RewrapOptions {
  /**
   * Only this organization (default: every organization with a decrypt-only or retired
   * version: a value can still turn up under a retired one, see `retireKey`).
   */
  readonly orgId?: string;
  /** About this many values per transaction (default 1000); a batch takes whole rows. */
  readonly batchSize?: number;
  /**
   * Upper bound on values rewritten per second, to leave room for production traffic; batches
   * are cut to at most this many values (never below one row).
   */
  readonly maxValuesPerSecond?: number;
  /** Called after every batch with the running totals. */
  readonly onProgress?: (p: RewrapProgress) => void;
  readonly registry?: ColumnRegistry;
  /** How long after a rotation the job waits before scanning (default: the primary TTL). */
  readonly settleMs?: number;
}

/** Running totals of a rewrap run. */
export interface RewrapProgress {
  readonly orgId: string;
  readonly version: number;
  readonly done: number;
  readonly total: number;
}

/** What a rewrap run did. */
export interface RewrapReport {
  readonly organizations: {
    orgId: string;
    version: number;
    rewrapped: number;
    failed: number;
    /** Of `rewrapped`, legacy plaintext values encrypted ("version 0", see legacy-plaintext.ts). */
    plaintext: number;
  }[];
}

/** What the rewrap job needs. */
export interface RewrapDeps {
  readonly db: Database;
  readonly keyring: Keyring;
  readonly events: SecurityEvents;
}

const doneMark = '*';

/**
 * Re-encrypts values still under older key versions with the primary version, online and in
 * batches. Each batch rewrites its values with a compare-and-swap (a row changed meanwhile is
 * left alone: it already carries the new version) and advances the persisted cursor in the
 * same transaction, so the job can be killed at any point and resumes where it stopped, and
 * running it again is harmless. A value that fails authentication is reported, not rewritten.
 * Legacy plaintext values ("version 0": free text stored before its column was encrypted) are
 * encrypted by a pass of their own, with the same guarantees (legacy-plaintext.ts).
 */
export async function rewrapValues(d: RewrapDeps, opts: RewrapOptions = {}): Promise<RewrapReport> {
  const registry = opts.registry ?? columnRegistry;
  // With a rate, a batch holds at most one second's worth (and at least one row, see
  // rewrapBatch).
  const batchSize = batchLimit(opts.batchSize ?? 1000, opts.maxValuesPerSecond);
  const orgs = await d.db.asSystem(
    { name: 'crypto.rewrap', reason: 'finds organizations with keys to rewrap' },
    async (tx) =>
      (
        await tx.query<{ organization_id: string; version: number; rotated: Date }>(
          `select k.organization_id, k.version, k.created_at as rotated
             from ward.encryption_keys k
            where k.status = 'active' and ($1::uuid is null or k.organization_id = $1)
              and ($1::uuid is not null or exists (select 1 from ward.encryption_keys o
                     where o.organization_id = k.organization_id
                       and o.status in ('decrypt_only', 'retired'))
                   or ${legacyExistsSql(registry.encryptedColumns(), 'k.organization_id')})
            order by k.organization_id`,
          [opts.orgId ?? null],
        )
      ).rows,
  );
  if (opts.orgId && orgs.length === 0)
    throw new WardError('not_found', `Organization ${opts.orgId} has no active key`);
  const report: RewrapReport = { organizations: [] };
  for (const o of orgs) {
    // Other processes may keep writing with the old version until their primary cache expires.
    const settle = o.rotated.getTime() + (opts.settleMs ?? defaultPrimaryTtlMs) - Date.now();
    if (settle > 0) await sleep(settle);
    const result = {
      orgId: o.organization_id,
      version: o.version,
      rewrapped: 0,
      failed: 0,
      plaintext: 0,
    };
    const total = await countOld(d.db, o.organization_id, o.version, registry.encryptedColumns());
    const pace = new Pace(opts.maxValuesPerSecond);
    // Legacy plaintext first (sealed straight under the primary), then values under old versions.
    const passes = [
      ...legacyTables(registry.encryptedColumns()).map((t) => ({
        plaintext: true,
        batch: () => encryptLegacyBatch(d, t, o.organization_id, o.version, batchSize),
      })),
      ...encryptedTables(registry.encryptedColumns()).map((t) => ({
        plaintext: false,
        batch: () => rewrapBatch(d, t, o.organization_id, o.version, batchSize),
      })),
    ];
    for (const pass of passes) {
      for (;;) {
        const batch = await pass.batch();
        if (pass.plaintext) result.plaintext += batch.rewrapped;
        result.rewrapped += batch.rewrapped;
        result.failed += batch.failed;
        opts.onProgress?.({
          orgId: o.organization_id,
          version: o.version,
          done: result.rewrapped,
          total,
        });
        if (batch.rewrapped > 0) await pace.after(result.rewrapped);
        if (batch.finished) break;
      }
    }
    await d.db.asSystem(
      { name: 'crypto.rewrap', reason: 'records a completed rewrap', orgId: o.organization_id },
      (tx) =>
        tx.query(
          `update ward.encryption_keys set rewrap_cursor = '{}', rewrap_completed_at = now()
            where organization_id = $1 and version = $2`,
          [o.organization_id, o.version],
        ),
    );
    report.organizations.push(result);
  }
  return report;
}

async function countOld(
  db: Database,
  orgId: string,
  version: number,
  cols: readonly EncryptedColumn[],
): Promise<number> {
  return db.asSystem(
    { name: 'crypto.rewrap', reason: 'counts values to rewrap', orgId },
    async (tx) => {
      let n = 0;
      for (const c of cols) {
        const r = await tx.query<{ n: number }>(
          `select count(*)::int as n from ${qualified(c.schema, c.table)}
          where organization_id = $1 and ${ident(c.column)} is not null and ${versionExpr(c.column)} <> $2`,
          [orgId, version],
        );
        n += r.rows[0]?.n ?? 0;
      }
      return n + ((await countLegacyValues(tx, cols, orgId)).get(orgId) ?? 0);
    },
  );
}

/** A table's encrypted columns, rewrapped together: one row version per row, not one per column. */
interface EncryptedTable {
  readonly schema: string;
  readonly table: string;
  readonly idColumn: string;
  readonly columns: readonly EncryptedColumn[];
}

function encryptedTables(cols: readonly EncryptedColumn[]): EncryptedTable[] {
  const byTable = new Map<
    string,
    { schema: string; table: string; idColumn: string; columns: EncryptedColumn[] }
  >();
  for (const c of cols) {
    const key = `${c.schema}.${c.table}.${c.idColumn}`;
    const t = byTable.get(key);
    if (t) t.columns.push(c);
    else byTable.set(key, { schema: c.schema, table: c.table, idColumn: c.idColumn, columns: [c] });
  }
  return [...byTable.values()];
}

/**
 * One batch of a table: the next rows (by id, after the persisted cursor) holding any value
 * under an older version, each of those values re-encrypted, and all of a row's new values
 * written by one UPDATE. Each column is compared and swapped on its own (a value changed
 * meanwhile already carries the new version and is left alone); a value that fails
 * authentication is reported and kept, while the row's other values still move. Rows per
 * batch are chosen so a batch holds about `batchSize` values.
 */
async function rewrapBatch(
  d: RewrapDeps,
  t: EncryptedTable,
  orgId: string,
  version: number,
  batchSize: number,
): Promise<{ rewrapped: number; failed: number; finished: boolean }> {
  // The cursor names the id column too: columns of one table keyed by different ids are
  // separate passes, and one pass's cursor must not end or filter the other's.
  const table = `${t.schema}.${t.table}`;
  const cursorKey = `${table}(${t.idColumn})`;
  const id = ident(t.idColumn);
  const rel = qualified(t.schema, t.table);
  const cols = t.columns.map((c) => ident(c.column));
  const isOld = (raw: string) => `(${ident(raw)} is not null and ${versionExpr(raw)} <> $3)`;
  const raw = t.columns.map((c) => c.column);
  const rowLimit = Math.max(1, Math.floor(batchSize / t.columns.length));
  return d.db.asSystem(
    { name: 'crypto.rewrap', reason: 'moves values to the primary key', orgId },
    async (tx) => {
      const cur = await tx.query<{ cursor: string | null }>(
        `select rewrap_cursor ->> $3 as cursor from ward.encryption_keys
        where organization_id = $1 and version = $2 and status = 'active' for update`,
        [orgId, version, cursorKey],
      );
      const row = cur.rows[0];
      if (!row)
        throw new WardError('conflict', 'The primary key changed during the rewrap; run it again');
      if (row.cursor === doneMark) return { rewrapped: 0, failed: 0, finished: true };
      const r = await tx.query<Record<string, unknown> & { id: string }>(
        `select ${id} as id, ${cols.map((c, k) => `${c} as v${k}, ${isOld(raw[k] as string)} as o${k}`).join(', ')}
           from ${rel}
          where organization_id = $1 and ($2::uuid is null or ${id} > $2::uuid)
            and (${raw.map(isOld).join(' or ')})
          order by ${id} limit $4`,
        [orgId, row.cursor, version, rowLimit],
      );
      const ids: string[] = [];
      const olds: (Buffer | null)[][] = t.columns.map(() => []);
      const news: (Buffer | null)[][] = t.columns.map(() => []);
      let failed = 0;
      const slice = cipherSlices();
      for (const v of r.rows) {
        const rowOld: (Buffer | null)[] = [];
        const rowNew: (Buffer | null)[] = [];
        for (const [k, c] of t.columns.entries()) {
          const stored = v[`v${k}`] as Buffer | null;
          let fresh: Buffer | undefined;
          if (stored && v[`o${k}`] === true) {
            await slice();
            const place = { orgId, table, column: c.column, rowId: v.id };
            fresh = await reseal(d, tx, place, stored, version);
            if (!fresh) failed++;
          }
          rowOld.push(fresh ? stored : null);
          rowNew.push(fresh ?? null);
        }
        if (rowNew.every((x) => x === null)) continue;
        ids.push(v.id);
        for (const k of t.columns.keys()) {
          (olds[k] as (Buffer | null)[]).push(rowOld[k] ?? null);
          (news[k] as (Buffer | null)[]).push(rowNew[k] ?? null);
        }
      }
      let rewrapped = 0;
      if (ids.length > 0) {
        // Parameters: $1 organization, $2 ids, then each column's old and new values.
        const o = (k: number) => `$${3 + 2 * k}`;
        const n = (k: number) => `$${4 + 2 * k}`;
        const u = await tx.query<{ moved: number }>(
          `with moved as (
             update ${rel} t set ${cols
               .map(
                 (c, k) =>
                   `${c} = case when v.n${k} is not null and t.${c} = v.o${k} then v.n${k} else t.${c} end`,
               )
               .join(', ')}
               from (select unnest($2::uuid[]) as id, ${cols
                 .map(
                   (_, k) => `unnest(${o(k)}::bytea[]) as o${k}, unnest(${n(k)}::bytea[]) as n${k}`,
                 )
                 .join(', ')}) v
              where t.organization_id = $1 and t.${id} = v.id
                and (${cols.map((c, k) => `t.${c} = v.o${k}`).join(' or ')})
             returning ${cols.map((c, k) => `(v.n${k} is not null and t.${c} is not distinct from v.n${k})::int`).join(' + ')} as n)
           select coalesce(sum(n), 0)::int as moved from moved`,
          [orgId, ids, ...t.columns.flatMap((_, k) => [olds[k], news[k]])],
        );
        rewrapped = u.rows[0]?.moved ?? 0;
      }
      const finished = r.rows.length < rowLimit;
      const last = r.rows.at(-1)?.id;
      await tx.query(
        `update ward.encryption_keys set rewrap_cursor = jsonb_set(rewrap_cursor, array[$3::text], to_jsonb($4::text))
        where organization_id = $1 and version = $2`,
        [orgId, version, cursorKey, finished ? doneMark : (last ?? row.cursor ?? doneMark)],
      );
      return { rewrapped, failed, finished };
    },
  );
}

/** Decrypts a value with its own version and re-encrypts it with `version`; undefined if it fails. */
async function reseal(
  d: RewrapDeps,
  tx: Tx,
  place: { orgId: string; table: string; column: string; rowId: string },
  stored: Buffer,
  version: number,
): Promise<Buffer | undefined> {
  const from = fieldKeyVersion(stored);
  const open = (k: Buffer) => openField(k, place, stored);
  let plain: Buffer | undefined;
  try {
    if (from !== undefined) {
      // Cached keys are used synchronously; only a miss goes to the database.
      const hit = d.keyring.cachedVersion(place.orgId, from, open);
      plain = hit !== keyMiss ? hit : await d.keyring.withVersion(tx, place.orgId, from, open);
    }
  } catch (e) {
    if (!isWardError(e, 'key_not_found') && !isWardError(e, 'key_destroyed')) throw e;
  }
  if (!plain) {
    await d.events.emit({ type: 'crypto.decrypt_failed', ...place, keyVersion: from ?? null });
    return undefined;
  }
  const p = plain;
  const seal = (k: Buffer) => sealField(k, version, place, p);
  try {
    const hit = d.keyring.cachedVersion(place.orgId, version, seal);
    return hit !== keyMiss ? hit : await d.keyring.withVersion(tx, place.orgId, version, seal);
  } finally {
    p.fill(0);
  }
}
