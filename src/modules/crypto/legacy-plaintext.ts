import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ident, qualified, type Database, type Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { fieldFormatV1, minFieldBytes, sealField } from './field-format.ts';
import { keyMiss, type Keyring } from './keyring.ts';
import type { EncryptedColumn, LegacyPlaintext } from './registry.ts';

// Columns that were plaintext before they were encrypted (free text, migration 0022) keep their
// old column until every row's value has moved. Such a value is treated as "version 0": it is
// counted by `ward keys status`, encrypted and cleared by `ward keys rewrap` (a pass of its own,
// below, with the same cursor, batching and compare-and-swap as the re-seal pass), and erased by
// a shred. See docs/decisions/2026-12-06-free-text-encryption.md.

/** A registered column that may still hold a legacy plaintext value. */
export type LegacyColumn = EncryptedColumn & { readonly legacy: LegacyPlaintext };

/** The registered columns that have a legacy plaintext column. */
export function legacyColumns(cols: readonly EncryptedColumn[]): LegacyColumn[] {
  return cols.filter((c): c is LegacyColumn => c.legacy !== undefined);
}

/**
 * SQL for a legacy value as the text that is encrypted: text as it is, JSON (and a text array,
 * as a JSON array) as its JSON text. `alias` qualifies the column (`t.` in an UPDATE … FROM).
 */
export function legacyTextSql(l: LegacyPlaintext, alias?: string): string {
  const c = `${alias ? `${alias}.` : ''}${ident(l.column)}`;
  if (l.type === 'text') return c;
  return l.type === 'jsonb' ? `${c}::text` : `to_jsonb(${c})::text`;
}

/**
 * A legacy value as node-postgres returned it (a string, or the parsed JSON or array), as the
 * text a reader gets from the encrypted column: the same text a service would have encrypted.
 */
export function legacyText(l: LegacyPlaintext, value: unknown): string {
  return l.type === 'text' ? String(value) : JSON.stringify(value);
}

/** How many legacy plaintext values each organization still holds (over `cols`). */
export async function countLegacyValues(
  q: Queryable,
  cols: readonly EncryptedColumn[],
  orgId?: string,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const c of legacyColumns(cols)) {
    const r = await q.query<{ organization_id: string; n: number }>(
      `select organization_id, count(*)::int as n from ${qualified(c.schema, c.table)}
        where ${ident(c.legacy.column)} is not null and ($1::uuid is null or organization_id = $1)
        group by 1`,
      [orgId ?? null],
    );
    for (const row of r.rows)
      out.set(row.organization_id, (out.get(row.organization_id) ?? 0) + row.n);
  }
  return out;
}

/** SQL that is true when the organization `orgExpr` names still holds any legacy value. */
export function legacyExistsSql(cols: readonly EncryptedColumn[], orgExpr: string): string {
  const checks = legacyColumns(cols).map(
    (c) =>
      `exists (select 1 from ${qualified(c.schema, c.table)} x
                where x.organization_id = ${orgExpr} and x.${ident(c.legacy.column)} is not null)`,
  );
  return checks.length === 0 ? 'false' : `(${checks.join(' or ')})`;
}

/** A table's legacy columns, encrypted together: one write per row, not one per column. */
export interface LegacyTable {
  readonly schema: string;
  readonly table: string;
  readonly idColumn: string;
  readonly columns: readonly LegacyColumn[];
}

/** The tables with legacy columns, each with its columns. */
export function legacyTables(cols: readonly EncryptedColumn[]): LegacyTable[] {
  const byTable = new Map<string, LegacyColumn[]>();
  for (const c of legacyColumns(cols)) {
    const key = `${c.schema}.${c.table}.${c.idColumn}`;
    byTable.set(key, [...(byTable.get(key) ?? []), c]);
  }
  return [...byTable.values()].map((columns) => {
    const first = columns[0] as LegacyColumn;
    return { schema: first.schema, table: first.table, idColumn: first.idColumn, columns };
  });
}

/** What the legacy pass needs. */
export interface LegacyPassDeps {
  readonly db: Database;
  readonly keyring: Keyring;
}

const doneMark = '*';
/** Values sealed between two yields to the event loop (as in the re-seal pass). */
const sliceSize = 100;

/**
 * One batch of the legacy pass over a table: the next rows (by id, after the cursor persisted
 * under `plaintext:<table>(<id>)` in the primary key's row) that hold a legacy value; each such
 * value is encrypted under `version` for its place, and one UPDATE per batch stores the
 * ciphertext and clears the plaintext — for each column only if the plaintext is still the one
 * that was read and no ciphertext was written meanwhile (compare-and-swap), so a concurrent
 * change is never overwritten; a row with nothing left to move is not written. The cursor
 * advances in the same transaction, so a killed run loses nothing and resumes where it stopped.
 */
export async function encryptLegacyBatch(
  d: LegacyPassDeps,
  t: LegacyTable,
  orgId: string,
  version: number,
  batchSize: number,
): Promise<{ rewrapped: number; failed: number; finished: boolean }> {
  const table = `${t.schema}.${t.table}`;
  const cursorKey = `plaintext:${table}(${t.idColumn})`;
  const id = ident(t.idColumn);
  const rel = qualified(t.schema, t.table);
  const enc = t.columns.map((c) => ident(c.column));
  const legacy = t.columns.map((c) => ident(c.legacy.column));
  const rowLimit = Math.max(1, Math.floor(batchSize / t.columns.length));
  return d.db.asSystem(
    { name: 'crypto.rewrap', reason: 'encrypts legacy plaintext values', orgId },
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
      const pending = (k: number, alias = '') =>
        `(${alias}${legacy[k] as string} is not null and ${alias}${enc[k] as string} is null)`;
      const r = await tx.query<Record<string, string | null> & { id: string }>(
        `select ${id} as id, ${t.columns
          .map((c, k) => `case when ${pending(k)} then ${legacyTextSql(c.legacy)} end as l${k}`)
          .join(', ')}
           from ${rel}
          where organization_id = $1 and ($2::uuid is null or ${id} > $2::uuid)
            and (${t.columns.map((_, k) => pending(k)).join(' or ')})
          order by ${id} limit $3`,
        [orgId, row.cursor, rowLimit],
      );
      const ids: string[] = [];
      const plains: (string | null)[][] = t.columns.map(() => []);
      const sealed: (Buffer | null)[][] = t.columns.map(() => []);
      let n = 0;
      for (const v of r.rows) {
        ids.push(v.id);
        for (const [k, c] of t.columns.entries()) {
          const plain = v[`l${k}`] ?? null;
          let fresh: Buffer | null = null;
          if (plain !== null) {
            if (++n % sliceSize === 0) await yieldToEventLoop();
            const place = { orgId, table, column: c.column, rowId: v.id };
            const seal = (key: Buffer) =>
              sealField(key, version, place, Buffer.from(plain, 'utf8'));
            const hit = d.keyring.cachedVersion(orgId, version, seal);
            fresh = hit !== keyMiss ? hit : await d.keyring.withVersion(tx, orgId, version, seal);
          }
          (plains[k] as (string | null)[]).push(plain);
          (sealed[k] as (Buffer | null)[]).push(fresh);
        }
      }
      let moved = 0;
      if (ids.length > 0) {
        // Parameters: $1 organization, $2 ids, then each column's plaintext read and ciphertext.
        const swap = (k: number) =>
          `(v.n${k} is not null and t.${enc[k] as string} is null and ${legacyTextSql(
            (t.columns[k] as LegacyColumn).legacy,
            't',
          )} = v.l${k})`;
        const u = await tx.query<{ moved: number }>(
          `with moved as (
             update ${rel} t set ${t.columns
               .map(
                 (_, k) =>
                   `${enc[k] as string} = case when ${swap(k)} then v.n${k} else t.${enc[k] as string} end, ` +
                   `${legacy[k] as string} = case when ${swap(k)} then null else t.${legacy[k] as string} end`,
               )
               .join(', ')}
               from (select unnest($2::uuid[]) as id, ${t.columns
                 .map(
                   (_, k) =>
                     `unnest($${3 + 2 * k}::text[]) as l${k}, unnest($${4 + 2 * k}::bytea[]) as n${k}`,
                 )
                 .join(', ')}) v
              where t.organization_id = $1 and t.${id} = v.id
                and (${t.columns.map((_, k) => swap(k)).join(' or ')})
             returning ${t.columns
               .map(
                 (_, k) =>
                   `(v.n${k} is not null and t.${enc[k] as string} is not distinct from v.n${k})::int`,
               )
               .join(' + ')} as n)
           select coalesce(sum(n), 0)::int as moved from moved`,
          [orgId, ids, ...t.columns.flatMap((_, k) => [plains[k], sealed[k]])],
        );
        moved = u.rows[0]?.moved ?? 0;
      }
      const finished = r.rows.length < rowLimit;
      const last = r.rows.at(-1)?.id;
      await tx.query(
        `update ward.encryption_keys set rewrap_cursor = jsonb_set(rewrap_cursor, array[$3::text], to_jsonb($4::text))
          where organization_id = $1 and version = $2`,
        [orgId, version, cursorKey, finished ? doneMark : (last ?? row.cursor ?? doneMark)],
      );
      return { rewrapped: moved, failed: 0, finished };
    },
  );
}

/**
 * A stored value that no key opens: a format-1 header naming `version` (a destroyed key) and
 * zeros where nonce, ciphertext and tag would be. What a shred leaves in place of a legacy
 * plaintext value, so the row reads like every other shredded value (the key is destroyed).
 */
export function shreddedValue(version: number): Buffer {
  const v = Buffer.alloc(minFieldBytes);
  v[0] = fieldFormatV1;
  v.writeUInt32BE(version, 1);
  return v;
}

/**
 * Erases an organization's legacy plaintext values as part of a shred: each becomes a
 * `shreddedValue` under the destroyed `version`, in the shred's own transaction (run as
 * `ward_system`). Returns how many values were erased.
 */
export async function eraseLegacyValues(
  q: Queryable,
  orgId: string,
  version: number,
  cols: readonly EncryptedColumn[],
): Promise<number> {
  let erased = 0;
  const tombstone = shreddedValue(version);
  for (const c of legacyColumns(cols)) {
    const r = await q.query(
      `update ${qualified(c.schema, c.table)} set ${ident(c.column)} = $2, ${ident(c.legacy.column)} = null
        where organization_id = $1 and ${ident(c.legacy.column)} is not null`,
      [orgId, tombstone],
    );
    erased += r.rowCount;
  }
  return erased;
}
