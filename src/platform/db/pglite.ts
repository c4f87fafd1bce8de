import fs from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { WardError } from '../errors.ts';
import type { Driver, Prelude, QueryResult, Tx } from './types.ts';

/** Options for the embedded engine. */
export interface PgliteOptions {
  /** Directory for the data files; omit for an in-memory database. */
  readonly dataDir?: string;
  /** A data directory tarball to start from (used by tests to clone a migrated template). */
  readonly loadDataDir?: Blob;
}

// Parse the same way as the PostgreSQL driver so that code sees identical values.
const parsers = {
  20: (v: string) => Number(v),
  1082: (v: string) => v,
};

/**
 * The embedded PGlite engine. PGlite is a single connection, so every transaction and every
 * standalone statement goes through one FIFO queue: two requests' statements can never
 * interleave, which would otherwise let one request run under another's context.
 */
export async function createPgliteDriver(opts: PgliteOptions = {}): Promise<Driver> {
  let release: (() => void) | undefined;
  if (opts.dataDir) {
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    makePrivate(opts.dataDir);
    release = acquireDirLock(opts.dataDir);
  }
  let db: PGlite;
  try {
    db = await PGlite.create({
      ...(opts.dataDir ? { dataDir: path.join(opts.dataDir, 'pgdata') } : {}),
      ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
      parsers,
    });
  } catch (e) {
    release?.();
    throw e;
  }

  let tail: Promise<unknown> = Promise.resolve();
  const serialize = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };

  const ended = () => new Error('the transaction has already committed (queryAndCommit)');
  /** `state.ended` is set by `queryAndCommit`; `state.committed` once its statement succeeded. */
  const wrap = (t: Transaction, state: { ended: boolean; committed: boolean }): Tx => ({
    engine: 'pglite',
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      if (state.ended) throw ended();
      return normalize<R>(await t.query(text, params as unknown[] | undefined));
    },
    async exec(script: string): Promise<void> {
      if (state.ended) throw ended();
      await t.exec(script);
    },
    // PGlite commits when the transaction callback returns; `transaction` below makes an error
    // thrown after this statement behave as on PostgreSQL (committed, then thrown).
    async queryAndCommit<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      if (state.ended) throw ended();
      state.ended = true;
      const r = normalize<R>(await t.query(text, params as unknown[] | undefined));
      state.committed = true;
      return r;
    },
  });

  return {
    engine: 'pglite',
    transaction<T>(
      fn: (tx: Tx, preludeRows: readonly Record<string, unknown>[]) => Promise<T>,
      prelude?: Prelude,
    ): Promise<T> {
      return serialize(async () => {
        const state = { ended: false, committed: false };
        const outcome = await db.transaction(
          async (t): Promise<{ value: T } | { error: unknown }> => {
            let last: PgliteResult | undefined;
            if (typeof prelude === 'string') last = (await t.exec(prelude)).at(-1);
            else
              for (const st of prelude ?? [])
                last = await t.query(st.text, st.values as unknown[] | undefined);
            const rows = last ? normalize<Record<string, unknown>>(last).rows : [];
            try {
              return { value: await fn(wrap(t, state), rows) };
            } catch (e) {
              // After a successful queryAndCommit the work is committed whatever follows.
              if (state.committed) return { error: e };
              throw e;
            }
          },
        );
        if ('error' in outcome) throw outcome.error;
        return outcome.value;
      });
    },
    query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      return serialize(async () => normalize<R>(await db.query(text, params as unknown[])));
    },
    async close(): Promise<void> {
      await serialize(() => db.close());
      release?.();
    },
    dumpDataDir: () => serialize(() => db.dumpDataDir('none')),
  } as Driver & { dumpDataDir(): Promise<Blob> };
}

/**
 * PGlite writes its files readable and writable by everyone (0666, whatever the umask), so the
 * data directory itself is what keeps other users out: it is made 0700 when it is not already
 * (a directory created beforehand keeps its own mode otherwise), and a directory that cannot be
 * made private is refused rather than used.
 */
function makePrivate(dir: string): void {
  if ((fs.statSync(dir).mode & 0o077) === 0) return;
  try {
    fs.chmodSync(dir, 0o700);
  } catch {
    throw new WardError(
      'config_invalid',
      `The data directory ${dir} is open to other users and cannot be made private (chmod 700 it)`,
    );
  }
}

interface PgliteResult {
  rows: unknown[];
  affectedRows?: number;
  fields: { name: string; dataTypeID: number }[];
}

/** Converts PGlite results to the shape the pg driver returns (bytea as Buffer). */
function normalize<R>(r: PgliteResult): QueryResult<R> {
  const byteaFields = r.fields.filter((f) => f.dataTypeID === 17).map((f) => f.name);
  if (byteaFields.length > 0) {
    for (const row of r.rows as Record<string, unknown>[]) {
      for (const name of byteaFields) {
        const v = row[name];
        if (v instanceof Uint8Array && !Buffer.isBuffer(v)) {
          row[name] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
        }
      }
    }
  }
  const rowCount = r.rows.length > 0 ? r.rows.length : (r.affectedRows ?? 0);
  return { rows: r.rows as R[], rowCount };
}

/**
 * PGlite's files must be opened by one process at a time; a second process (say, a CLI
 * command while `ward serve` runs) would corrupt them. A lock file holding the owner's pid
 * turns that into a clear error.
 */
function acquireDirLock(dir: string): () => void {
  const lockPath = path.join(dir, 'ward.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(lockPath, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(fs.readFileSync(lockPath, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new WardError(
          'database_unavailable',
          `The embedded database in ${dir} is in use by process ${owner}. Stop it, or set DATABASE_URL to use PostgreSQL.`,
        );
      }
      // The previous owner is gone: the lock is stale.
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new WardError('database_unavailable', `Could not lock the embedded database in ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
