import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Database } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { scanEvents } from './events-query.ts';

/** Options for `applyRetention`. */
export interface RetentionOptions {
  /** Retention period in years; at least 6 (HIPAA 164.316(b)(2)(i)), default 6. */
  readonly years?: number;
  /** Directory the partition exports are written to. */
  readonly outDir: string;
  /** Without it, only report what would be exported and dropped. */
  readonly apply: boolean;
  readonly now?: Date;
}

/** One partition past retention and what happened to it. */
export interface RetainedPartition {
  readonly name: string;
  readonly rows: number;
  readonly file?: string;
  readonly sha256?: string;
  readonly dropped: boolean;
}

const system = {
  name: 'audit.retention',
  reason: 'exports and detaches audit partitions past the retention period',
};

/**
 * Finds the monthly partitions that ended more than `years` ago; with `apply`, exports each
 * to JSON Lines, records the export (row count and SHA-256) in audit.partition_exports, and
 * only then detaches and drops it through audit.drop_exported_partition — which refuses any
 * partition without a matching export, whose bounds are not its month, or that is inside the
 * retention period (never less than six years), whatever the caller asks.
 */
export async function applyRetention(
  db: Database,
  opts: RetentionOptions,
): Promise<RetainedPartition[]> {
  const years = opts.years ?? 6;
  if (!Number.isInteger(years) || years < 6) {
    throw new WardError('bad_request', 'The retention period is at least 6 years (HIPAA 164.316)');
  }
  const now = opts.now ?? new Date();
  const cutoff = Date.UTC(now.getUTCFullYear() - years, now.getUTCMonth(), now.getUTCDate());
  const parts = await db.asSystem(system, (tx) =>
    tx.query<{ name: string }>(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'audit.events'::regclass order by c.relname`,
    ),
  );
  const out: RetainedPartition[] = [];
  for (const { name } of parts.rows) {
    const m = /^events_(\d{4})_(\d{2})$/.exec(name);
    if (!m) continue;
    const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
    const to = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1));
    if (to.getTime() > cutoff) continue;
    if (!opts.apply) {
      out.push({ name, rows: -1, dropped: false });
      continue;
    }
    out.push(await exportAndDrop(db, name, from, to, opts.outDir, years));
  }
  return out;
}

async function exportAndDrop(
  db: Database,
  name: string,
  from: Date,
  to: Date,
  outDir: string,
  years: number,
): Promise<RetainedPartition> {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.resolve(outDir, `audit-${name}.jsonl`);
  const fd = fs.openSync(file, 'wx', 0o600);
  const digest = createHash('sha256');
  let rows = 0;
  try {
    rows = await db.asSystem(system, (tx) =>
      scanEvents(tx, { from: from.toISOString(), to: to.toISOString() }, (chunk) => {
        const text = chunk.map((e) => JSON.stringify(e)).join('\n') + '\n';
        digest.update(text);
        fs.writeSync(fd, text);
      }),
    );
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const sha256 = digest.digest();
  await db.asSystem(system, async (tx) => {
    await tx.query(
      `insert into audit.partition_exports (partition_name, range_from, range_to, row_count, sha256, location)
       values ($1, $2, $3, $4, $5, $6)`,
      [name, from.toISOString(), to.toISOString(), rows, sha256, file],
    );
  });
  await db.asSystem(system, async (tx) => {
    // The database checks the partition's real bounds against the same retention period.
    await tx.query('select audit.drop_exported_partition($1, $2)', [name, years]);
    await tx.query(
      'update audit.partition_exports set dropped_at = now() where partition_name = $1',
      [name],
    );
  });
  return { name, rows, file, sha256: sha256.toString('hex'), dropped: true };
}
