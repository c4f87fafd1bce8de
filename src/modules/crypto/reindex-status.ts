import { ident, isUuid, qualified, type Database } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { changedSince, currentNormalization } from './normalize.ts';
import { columnNormalizations, indexedOrganizations } from './reindex-repo.ts';
import { columnRegistry, qualifiedColumn, type ColumnRegistry } from './registry.ts';

/** One organization's blind-index column as `ward keys status` shows it. */
export interface BlindIndexStatus {
  readonly orgId: string;
  /** schema.table.column */
  readonly column: string;
  /** The oldest normalization version a stored index of the column may still have. */
  readonly normalization: number;
  /** The version the code computes (what `ward keys reindex` moves the column to). */
  readonly current: number;
  /**
   * `current`: every index is in the current form (search looks up only that); `pending`: older
   * forms may remain and no reindex has started; `reindexing`: a pass is under way or was
   * interrupted (a run resumes it).
   */
  readonly state: 'current' | 'pending' | 'reindexing';
  /** Rows the reindex still has to visit for this column (0 when there is nothing to recompute). */
  readonly rowsLeft: number;
  readonly reindexedAt: string | null;
}

/** Per organization with blind indexes and per registered index column: how much is left. */
export async function blindIndexStatus(
  d: { readonly db: Database; readonly registry?: ColumnRegistry },
  orgId?: string,
): Promise<BlindIndexStatus[]> {
  if (orgId !== undefined && !isUuid(orgId))
    throw new WardError('bad_request', 'The organization id must be a UUID');
  const indexes = (d.registry ?? columnRegistry).blindIndexes();
  return d.db.asSystem(
    {
      name: 'crypto.status',
      reason: 'counts blind-index rows left to reindex across tenants',
      ...(orgId ? { orgId } : {}),
    },
    async (tx) => {
      const out: BlindIndexStatus[] = [];
      const counted = new Map<string, number>();
      const count = async (
        org: string,
        schema: string,
        table: string,
        id: string,
        after: string | null,
      ) => {
        const key = `${org}/${schema}.${table}/${after ?? ''}`;
        const known = counted.get(key);
        if (known !== undefined) return known;
        const r = await tx.query<{ n: number }>(
          `select count(*)::int as n from ${qualified(schema, table)}
            where organization_id = $1 and ($2::uuid is null or ${ident(id)} > $2::uuid)`,
          [org, after],
        );
        const n = r.rows[0]?.n ?? 0;
        counted.set(key, n);
        return n;
      };
      for (const org of await indexedOrganizations(tx, orgId?.toLowerCase())) {
        const state = await columnNormalizations(tx, org, indexes.map(qualifiedColumn));
        for (const b of indexes) {
          const column = qualifiedColumn(b);
          const s = state.get(column);
          const floor = s?.floor ?? org.rootNormalization;
          const reindexing = s?.reindexTo != null;
          const visit = reindexing || changedSince(b.kind, floor);
          out.push({
            orgId: org.orgId,
            column,
            normalization: floor,
            current: currentNormalization,
            state: reindexing ? 'reindexing' : floor < currentNormalization ? 'pending' : 'current',
            rowsLeft: visit
              ? await count(org.orgId, b.schema, b.table, b.idColumn, s?.cursor ?? null)
              : 0,
            reindexedAt: s?.reindexedAt?.toISOString() ?? null,
          });
        }
      }
      return out;
    },
  );
}
