import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { ident, qualified, type Database, type Tx } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import { fieldKeyVersion, openField, sealField } from './field-format.ts';
import { defaultPrimaryTtlMs, keyMiss, type Keyring } from './keyring.ts';
import {
  columnRegistry,
  qualifiedColumn,
  type ColumnRegistry,
  type EncryptedColumn,
} from './registry.ts';
import type { SecurityEvents } from './security-events.ts';
import { versionExpr } from './value-counts.ts';

/** Options of one rewrap run. */
export interface RewrapOptions {
  /** Only this organization (default: every organization with a decrypt-only version). */
  readonly orgId?: string;
  /** Values per transaction (default 1000). */
  readonly batchSize?: number;
  /** Upper bound on values rewritten per second, to leave room for production traffic. */
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
  readonly organizations: { orgId: string; version: number; rewrapped: number; failed: number }[];
}

/** What the rewrap job needs. */
export interface RewrapDeps {
  readonly db: Database;
  readonly keyring: Keyring;
  readonly events: SecurityEvents;
}

const doneMark = '*';

/**
 * Values re-encrypted between two yields to the event loop. A batch is one transaction and one
 * UPDATE, but its cipher work is cut into slices this small so that requests sharing the process
 * wait for at most one slice, not for a whole batch.
 */
const sliceSize = 100;

/**
 * Re-encrypts values still under older key versions with the primary version, online and in
 * batches. Each batch rewrites its values with a compare-and-swap (a row changed meanwhile is
 * left alone: it already carries the new version) and advances the persisted cursor in the
 * same transaction, so the job can be killed at any point and resumes where it stopped, and
 * running it again is harmless. A value that fails authentication is reported, not rewritten.
 */
export async function rewrapValues(d: RewrapDeps, opts: RewrapOptions = {}): Promise<RewrapReport> {
  const registry = opts.registry ?? columnRegistry;
  const batchSize = opts.batchSize ?? 1000;
  const orgs = await d.db.asSystem(
    { name: 'crypto.rewrap', reason: 'finds organizations with keys to rewrap' },
    async (tx) =>
      (
        await tx.query<{ organization_id: string; version: number; rotated: Date }>(
          `select k.organization_id, k.version, k.created_at as rotated
             from ward.encryption_keys k
            where k.status = 'active' and ($1::uuid is null or k.organization_id = $1)
              and ($1::uuid is not null or exists (select 1 from ward.encryption_keys o
                     where o.organization_id = k.organization_id and o.status = 'decrypt_only'))
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
    const result = { orgId: o.organization_id, version: o.version, rewrapped: 0, failed: 0 };
    const total = await countOld(d.db, o.organization_id, o.version, registry.encryptedColumns());
    const started = Date.now();
    for (const c of registry.encryptedColumns()) {
      for (;;) {
        const batch = await rewrapBatch(d, c, o.organization_id, o.version, batchSize);
        result.rewrapped += batch.rewrapped;
        result.failed += batch.failed;
        opts.onProgress?.({
          orgId: o.organization_id,
          version: o.version,
          done: result.rewrapped,
          total,
        });
        if (opts.maxValuesPerSecond && batch.rewrapped > 0) {
          const due = started + (result.rewrapped / opts.maxValuesPerSecond) * 1000 - Date.now();
          if (due > 0) await sleep(due);
        }
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
      return n;
    },
  );
}

async function rewrapBatch(
  d: RewrapDeps,
  c: EncryptedColumn,
  orgId: string,
  version: number,
  batchSize: number,
): Promise<{ rewrapped: number; failed: number; finished: boolean }> {
  const key = qualifiedColumn(c);
  const table = `${c.schema}.${c.table}`;
  const col = ident(c.column);
  const id = ident(c.idColumn);
  const rel = qualified(c.schema, c.table);
  return d.db.asSystem(
    { name: 'crypto.rewrap', reason: 'moves values to the primary key', orgId },
    async (tx) => {
      const cur = await tx.query<{ cursor: string | null }>(
        `select rewrap_cursor ->> $3 as cursor from ward.encryption_keys
        where organization_id = $1 and version = $2 and status = 'active' for update`,
        [orgId, version, key],
      );
      const row = cur.rows[0];
      if (!row)
        throw new WardError('conflict', 'The primary key changed during the rewrap; run it again');
      if (row.cursor === doneMark) return { rewrapped: 0, failed: 0, finished: true };
      const r = await tx.query<{ id: string; value: Buffer }>(
        `select ${id} as id, ${col} as value from ${rel}
        where organization_id = $1 and ($2::uuid is null or ${id} > $2::uuid)
          and ${col} is not null and ${versionExpr(c.column)} <> $3
        order by ${id} limit $4`,
        [orgId, row.cursor, version, batchSize],
      );
      const ids: string[] = [];
      const olds: Buffer[] = [];
      const news: Buffer[] = [];
      let failed = 0;
      for (const [i, v] of r.rows.entries()) {
        if (i > 0 && i % sliceSize === 0) await yieldToEventLoop();
        const fresh = await reseal(
          d,
          tx,
          { orgId, table, column: c.column, rowId: v.id },
          v.value,
          version,
        );
        if (fresh) {
          ids.push(v.id);
          olds.push(v.value);
          news.push(fresh);
        } else failed++;
      }
      let rewrapped = 0;
      if (ids.length > 0) {
        const u = await tx.query(
          `update ${rel} t set ${col} = v.new
           from (select unnest($2::uuid[]) as id, unnest($3::bytea[]) as old, unnest($4::bytea[]) as new) v
          where t.organization_id = $1 and t.${id} = v.id and t.${col} = v.old`,
          [orgId, ids, olds, news],
        );
        rewrapped = u.rowCount;
      }
      const finished = r.rows.length < batchSize;
      const last = r.rows.at(-1)?.id;
      await tx.query(
        `update ward.encryption_keys set rewrap_cursor = jsonb_set(rewrap_cursor, array[$3::text], to_jsonb($4::text))
        where organization_id = $1 and version = $2`,
        [orgId, version, key, finished ? doneMark : (last ?? row.cursor ?? doneMark)],
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
