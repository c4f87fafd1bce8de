import type { Database } from '../../platform/db/index.ts';
import { firstRow } from '../../platform/db/index.ts';

/**
 * Makes sure the monthly partitions from last month through `monthsAhead` months ahead exist,
 * so an insert never finds no partition. The DDL runs in `audit.ensure_partitions`, owned by
 * the schema owner, so the runtime roles need no DDL rights.
 * @returns the number of partitions created
 */
export async function ensurePartitions(db: Database, monthsAhead = 3): Promise<number> {
  return db.asSystem(
    { name: 'audit.partitions', reason: 'creates monthly audit partitions ahead of time' },
    async (tx) =>
      firstRow(
        await tx.query<{ n: number }>(
          "select audit.ensure_partitions((date_trunc('month', now() at time zone 'UTC') - interval '1 month')::date, $1) as n",
          [monthsAhead + 2],
        ),
      ).n,
  );
}
