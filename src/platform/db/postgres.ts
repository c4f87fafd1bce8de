import { createHash } from 'node:crypto';
import pg from 'pg';
import { CopyLineSplitter } from './copy-text.ts';
import type { Driver, Prelude, QueryResult, TransactionOptions, Tx } from './types.ts';

// Counts and audit ids are int8; they stay well below 2^53, and numbers are what both
// engines hand back, so parse them as numbers rather than strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
// Dates stay text (YYYY-MM-DD): a calendar date must not shift with the server's time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

const statementNames = new Map<string, string>();
const maxNamedStatements = 2_000;

/** A stable name for a statement text (its SHA-1); names are cached up to a bound, computed beyond it. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `w${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (statementNames.size < maxNamedStatements) statementNames.set(text, name);
  }
  return name;
}

/** The transaction-local setting that carries `copyRows` parameters (COPY binds none). */
const copyParamsSetting = 'ward.copy_params';

/**
 * `COPY (select) TO STDOUT` as a `pg` query: a subclass of the driver's own query so that it
 * may share a pipelined connection (pipeline mode refuses foreign query objects), receiving the
 * CopyData messages the base class ignores. Rows are decoded as they arrive, synchronously,
 * because the driver may reuse a message's memory once the handler returns.
 */
class CopyRowsQuery extends pg.Query {
  readonly done: Promise<number>;
  #rows = 0;
  readonly #lines: CopyLineSplitter;
  #failure: unknown;

  constructor(text: string, onRow: (line: Buffer) => void) {
    super(text);
    this.#lines = new CopyLineSplitter((line) => {
      this.#rows++;
      onRow(line);
    });
    let settle: (err: unknown, rows?: number) => void = () => undefined;
    this.done = new Promise<number>((resolve, reject) => {
      settle = (err, rows) => {
        if (err) reject(err instanceof Error ? err : new Error('COPY failed'));
        else resolve(rows ?? 0);
      };
    });
    // Called with an error (the server's, or one raised while decoding) or, at ReadyForQuery,
    // with none; a promise settles once, so the ReadyForQuery after an error changes nothing.
    (this as unknown as { callback: (err: unknown) => void }).callback = (err) => {
      if (!err && this.#failure === undefined) {
        try {
          this.#lines.end();
        } catch (e) {
          this.#failure = e;
        }
      }
      settle(err ?? this.#failure, this.#rows);
    };
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.#failure !== undefined) return;
    try {
      this.#lines.push(msg.chunk);
    } catch (e) {
      // Kept until the statement ends: the rest of the stream still has to be read off the wire.
      this.#failure = e;
    }
  }
}

/** Rewrites `$n` in a COPY query to read parameter n from the transaction-local setting. */
function copyParamRefs(select: string, count: number): string {
  return select.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n);
    if (i < 1 || i > count) throw new Error(`copyRows: $${n} has no parameter`);
    return `(current_setting('${copyParamsSetting}')::json->>${i - 1})`;
  });
}

/** Whether `queryAndCommit` has ended a transaction, and whether its COMMIT failed. */
interface TxState {
  ended: boolean;
  commitFailed?: Error;
}

/** Options for the PostgreSQL pool. */
export interface PostgresOptions {
  readonly connectionString: string;
  readonly max?: number;
  readonly applicationName?: string;
}

/** A PostgreSQL driver over a `pg` pool. One pooled connection per transaction. */
export function createPostgresDriver(opts: PostgresOptions): Driver {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 20,
    application_name: opts.applicationName ?? 'ward',
    idleTimeoutMillis: 30_000,
    // Pipeline mode writes a query as soon as it is issued instead of after the previous one's
    // answer. Statements of one transaction are still awaited one by one; what it buys is that
    // a transaction's opening (BEGIN and the context prelude) travels with its first statement
    // (see `transaction`), saving one of a request's three round trips.
    pipeline: true,
  });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => undefined);

  /**
   * `sent` is told after each statement has been handed to the connection; `state.ended` is set
   * by `queryAndCommit`, after which the transaction is the server's to finish, not ours.
   */
  const wrap = (
    client: pg.PoolClient,
    prepared: boolean,
    state: TxState,
    sent?: () => void,
  ): Tx => {
    const submit = (text: string, params?: readonly unknown[]) => {
      if (state.ended) {
        return Promise.reject(new Error('the transaction has already committed (queryAndCommit)'));
      }
      const values = params as unknown[] | undefined;
      // Request transactions run the same few hundred statements over and over: as named
      // (server-side prepared) statements PostgreSQL parses and plans each once per connection.
      return prepared
        ? client.query({ name: statementName(text), text, values })
        : client.query(text, values);
    };
    return {
      engine: 'postgres',
      async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
        const pending = submit(text, params);
        sent?.();
        const r = await pending;
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      },
      async exec(script: string): Promise<void> {
        if (state.ended) throw new Error('the transaction has already committed (queryAndCommit)');
        const pending = client.query(script);
        sent?.();
        await pending;
      },
      async queryAndCommit<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
        // Corked, so the statement and the COMMIT leave in one socket write instead of two: on
        // loopback TCP each write is a system call that also does the receiving side's work.
        const socket = client.connection.stream;
        socket.cork();
        let pending: Promise<pg.QueryResult>;
        let commit: Promise<pg.QueryResult>;
        try {
          pending = submit(text, params);
          // Pipelined behind the statement. If the statement fails, the transaction is aborted
          // and PostgreSQL answers this COMMIT with a rollback, so nothing of it is kept.
          commit = client.query('COMMIT');
        } finally {
          socket.uncork();
        }
        state.ended = true;
        sent?.();
        let r: pg.QueryResult;
        try {
          r = await pending;
        } catch (e) {
          await commit.catch(() => undefined);
          throw e;
        }
        try {
          await commit;
        } catch (e) {
          state.commitFailed = e instanceof Error ? e : new Error('commit failed');
          throw e;
        }
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      },
      async copyRows(
        select: string,
        params: readonly string[],
        onRow: (line: Buffer) => void,
      ): Promise<number> {
        if (state.ended) throw new Error('the transaction has already committed (queryAndCommit)');
        const text = `COPY (${copyParamRefs(select, params.length)}) TO STDOUT`;
        // Both are queued at once: the setting travels with the COPY, in the same round trip. If
        // setting it fails, the transaction is aborted and the COPY fails behind it.
        const setting = submit(`select set_config('${copyParamsSetting}', $1, true)`, [
          JSON.stringify(params),
        ]);
        const copy = new CopyRowsQuery(text, onRow);
        client.query(copy);
        sent?.();
        try {
          await setting;
        } catch (e) {
          await copy.done.catch(() => undefined);
          throw e;
        }
        return copy.done;
      },
    };
  };

  return {
    engine: 'postgres',
    async transaction<T>(
      fn: (tx: Tx, preludeRows: readonly Record<string, unknown>[]) => Promise<T>,
      prelude?: Prelude,
      opts: TransactionOptions = {},
    ): Promise<T> {
      const client = await pool.connect();
      /** Queues the prelude's statements (named, so each is parsed and planned once per connection). */
      const queuePrelude = (p: Prelude): Promise<pg.QueryResult>[] =>
        typeof p === 'string'
          ? [client.query(p)]
          : p.map((st) =>
              client.query({
                name: statementName(st.text),
                text: st.text,
                values: st.values as unknown[],
              }),
            );
      let broken: Error | undefined;
      const state: TxState = { ended: false };
      try {
        let preludeRows: Record<string, unknown>[] = [];
        // The opening, when it is not awaited before `fn` starts (see below), and the flush of
        // the corked socket it was written to.
        let opening: Promise<unknown> | undefined;
        let flush: (() => void) | undefined;
        if (prelude === undefined) {
          await client.query('BEGIN');
        } else if (opts.preludeRows === true) {
          // The caller needs the prelude's rows before it goes on: BEGIN and the prelude leave in
          // one write and are awaited together (one round trip).
          const socket = client.connection.stream;
          socket.cork();
          let queued: Promise<pg.QueryResult | pg.QueryResult[]>[];
          try {
            queued = [client.query('BEGIN'), ...queuePrelude(prelude)];
          } finally {
            socket.uncork();
          }
          const settled = await Promise.allSettled(queued);
          const failed = settled.find((r) => r.status === 'rejected');
          if (failed) throw failed.reason;
          const lastSettled = settled.at(-1);
          const opened = lastSettled?.status === 'fulfilled' ? lastSettled.value : undefined;
          const last = Array.isArray(opened) ? opened.at(-1) : opened;
          preludeRows = (last?.rows ?? []) as Record<string, unknown>[];
        } else {
          // Pipelined opening: BEGIN and the prelude are queued now and `fn` starts at once, so
          // its first statement follows them without waiting for their answer — and, with the
          // socket corked until that statement is queued (or the next event-loop turn at the
          // latest), in the same write. Safe by ordering: PostgreSQL runs one connection's
          // messages in order. BEGIN is its own constant message, so it cannot fail to parse
          // along with a faulty prelude; once it has run, a prelude that fails aborts the
          // transaction and every statement behind it fails with 25P02 — no statement runs
          // without the role and context. The opening's own error is the one reported.
          const socket = client.connection.stream;
          socket.cork();
          let corked = true;
          flush = () => {
            if (!corked) return;
            corked = false;
            socket.uncork();
          };
          setImmediate(flush);
          opening = Promise.all([client.query('BEGIN'), ...queuePrelude(prelude)]);
          opening.catch(() => undefined);
        }
        // Only context transactions (requests, jobs) prepare; admin work (migrations, DDL) does not,
        // so a schema change never meets a statement planned against the old schema.
        // The first statement sent releases the corked opening at the end of the current tick,
        // not at once: statements queued together (audit inserts in front of a statement, a
        // statement and its COMMIT) then share the opening's write.
        const release = flush;
        const sent =
          release &&
          (() => {
            process.nextTick(release);
          });
        let result: T;
        try {
          result = await fn(wrap(client, prelude !== undefined, state, sent), preludeRows);
        } catch (e) {
          flush?.();
          await opening;
          throw e;
        }
        flush?.();
        await opening;
        if (!state.ended) await client.query('COMMIT');
        return result;
      } catch (e) {
        if (state.ended) {
          // queryAndCommit ended the transaction on the server (committed, or rolled back with
          // its statement); a connection whose COMMIT failed is not trusted again.
          broken = state.commitFailed;
          throw e;
        }
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // A connection that cannot roll back is discarded, never returned to the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error('rollback failed');
        }
        throw e;
      } finally {
        client.release(broken);
      }
    },
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const r = await pool.query(text, params as unknown[] | undefined);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
    },
    async close(): Promise<void> {
      await pool.end();
    },
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}
