import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Database } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { partialPath, removeStalePartials } from '../../platform/partial-files.ts';
import { countEvents, scanEvents } from './events-query.ts';

/** Options for `applyRetention`. */
export interface RetentionOptions {
  /** Retention period in years; at least 6 (HIPAA 164.316(b)(2)(i)), default 6. */
  readonly years?: number;
  /** Directory the partition exports are written to. */
  readonly outDir: string;
  /** Without it, only report what would be exported and dropped. */
  readonly apply: boolean;
  /**
   * With `apply`: export and record each partition, but leave it in place (to check the copies
   * off-site first); a later run with `apply` alone verifies each recorded export and drops.
   */
  readonly exportOnly?: boolean;
  readonly now?: Date;
  /** Told the partial files of killed runs that this run removed (with `apply`). */
  readonly onStaleRemoved?: (files: readonly string[]) => void;
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

/** The file a partition is exported to, in the output directory. */
const exportName = (partition: string) => `audit-${partition}.jsonl`;
const exportNamePattern = /^audit-events_[0-9]{4}_[0-9]{2}\.jsonl$/;

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
  if (opts.apply) {
    // Exports a killed run left half-written; never one a live run is writing.
    const removed = removeStalePartials(opts.outDir, (stem) => exportNamePattern.test(stem));
    if (removed.length > 0) opts.onStaleRemoved?.(removed);
  }
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
    out.push(await exportAndDrop(db, name, from, to, opts.outDir, years, opts.exportOnly === true));
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
  exportOnly: boolean,
): Promise<RetainedPartition> {
  const range = { from: from.toISOString(), to: to.toISOString() };
  // A run that stopped between recording the export and dropping the partition is resumed:
  // the recorded file must still be there, byte for byte, and the month must still hold the
  // rows it counted, or nothing is dropped.
  const recorded = await db.asSystem(system, (tx) =>
    tx.query<{ row_count: number; sha256: Buffer; location: string }>(
      `select row_count, sha256, location from audit.partition_exports
        where partition_name = $1 and dropped_at is null`,
      [name],
    ),
  );
  const prior = recorded.rows[0];
  let rows: number;
  let file: string;
  let sha256: Buffer;
  if (prior) {
    const live = await db.asSystem(system, (tx) => countEvents(tx, range));
    const onDisk = fs.existsSync(prior.location) ? await fileSha256(prior.location) : undefined;
    if (!onDisk?.equals(prior.sha256) || live !== prior.row_count) {
      throw new WardError(
        'audit_integrity_failed',
        `${name} was exported to ${prior.location} earlier, but that file is missing or differs, or the month changed since: nothing was dropped`,
      );
    }
    ({ row_count: rows, location: file, sha256 } = prior);
  } else {
    fs.mkdirSync(outDir, { recursive: true });
    file = path.resolve(outDir, exportName(name));
    ({ rows, sha256 } = await exportMonth(db, range, file));
    await db.asSystem(system, async (tx) => {
      await tx.query(
        `insert into audit.partition_exports (partition_name, range_from, range_to, row_count, sha256, location)
         values ($1, $2, $3, $4, $5, $6)`,
        [name, range.from, range.to, rows, sha256, file],
      );
    });
  }
  if (exportOnly) return { name, rows, file, sha256: sha256.toString('hex'), dropped: false };
  await db.asSystem(system, async (tx) => {
    // The database checks the partition's real bounds against the same retention period.
    await tx.query('select audit.drop_exported_partition($1, $2)', [name, years]);
    // The derived rows of the patients its events named go with it (migration 0020).
    await tx.query('select audit.expire_event_patients($1)', [years]);
    await tx.query(
      'update audit.partition_exports set dropped_at = now() where partition_name = $1',
      [name],
    );
  });
  return { name, rows, file, sha256: sha256.toString('hex'), dropped: true };
}

/**
 * Writes one month's events to `file` as JSON Lines, whole or not at all: into a new 0600 file
 * beside it, renamed into place once complete. A file already at `file` (left by a run that
 * stopped after writing it) is kept if it is exactly this export, and refused otherwise.
 */
async function exportMonth(
  db: Database,
  range: { from: string; to: string },
  file: string,
): Promise<{ rows: number; sha256: Buffer }> {
  const temp = partialPath(path.dirname(file), path.basename(file));
  const fd = fs.openSync(temp, 'wx', 0o600);
  const digest = createHash('sha256');
  let rows = 0;
  try {
    try {
      rows = await db.asSystem(system, (tx) =>
        scanEvents(tx, range, (chunk) => {
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
    if (fs.existsSync(file)) {
      if (!(await fileSha256(file)).equals(sha256))
        throw new WardError(
          'conflict',
          `${file} exists and is not this export; move it away and run again`,
        );
      fs.rmSync(temp);
    } else {
      fs.renameSync(temp, file);
    }
    return { rows, sha256 };
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw e;
  }
}

/** SHA-256 of a file, streamed. */
async function fileSha256(file: string): Promise<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest();
}
