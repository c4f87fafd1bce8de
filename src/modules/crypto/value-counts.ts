import { qualified, ident, type Queryable } from '../../platform/db/index.ts';
import type { EncryptedColumn } from './registry.ts';

/**
 * The SQL expression for the key version in a stored value's header (bytes 1..4), or -1 when
 * the value is too short to have one or claims more than a key version can be (the high bit
 * set): such a tampered or corrupt value must be counted (and reported by the rewrap) under no
 * key, not break `keys status`, `retire` and `rewrap` with an out-of-range error. CASE
 * evaluates its branches in order, so `get_byte` never reads past the value.
 */
export function versionExpr(column: string): string {
  const c = ident(column);
  return `(case when length(${c}) < 5 then -1 when get_byte(${c}, 1) >= 128 then -1 else (get_byte(${c}, 1) << 24) + (get_byte(${c}, 2) << 16) + (get_byte(${c}, 3) << 8) + get_byte(${c}, 4) end)`;
}

/** How many values each (organization, key version) protects, over the registered columns. */
export async function countValuesByVersion(
  q: Queryable,
  columns: readonly EncryptedColumn[],
  orgId?: string,
): Promise<Map<string, Map<number, number>>> {
  const out = new Map<string, Map<number, number>>();
  for (const c of columns) {
    const r = await q.query<{ organization_id: string; version: number; n: number }>(
      `select organization_id, ${versionExpr(c.column)} as version, count(*)::int as n
         from ${qualified(c.schema, c.table)}
        where ${ident(c.column)} is not null and ($1::uuid is null or organization_id = $1)
        group by 1, 2`,
      [orgId ?? null],
    );
    for (const row of r.rows) {
      const byVersion = out.get(row.organization_id) ?? new Map<number, number>();
      byVersion.set(row.version, (byVersion.get(row.version) ?? 0) + row.n);
      out.set(row.organization_id, byVersion);
    }
  }
  return out;
}
