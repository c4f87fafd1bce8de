/** Rows returned by a query; `rowCount` is the number of rows affected or returned. */
export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

/** Something that runs parameterized SQL: a transaction handle. */
export interface Queryable {
  /**
   * Runs one parameterized statement. Values travel as parameters, never spliced into text.
   * @example await tx.query<{ id: string }>('select id from ward.users where email = $1', [email])
   */
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>>;
}

/** The two engines Ward runs on. Both execute the same SQL and enforce the same policies. */
export type EngineKind = 'postgres' | 'pglite';

/** A transaction handle. It is only valid inside the callback that received it. */
export interface Tx extends Queryable {
  readonly engine: EngineKind;
  /** Runs a multi-statement script without parameters (migrations, fixed DDL). */
  exec(script: string): Promise<void>;
  /**
   * Runs the transaction's last statement and commits with it: on PostgreSQL the statement and
   * COMMIT leave together, saving the round trip COMMIT would cost after the callback returns.
   * If the statement fails, the transaction rolls back and its error is thrown. Once it resolves
   * the transaction is committed: later statements are refused, and an error the callback throws
   * afterwards still reaches the caller but cannot undo the commit (the same on both engines).
   * Use it as the callback's last act.
   * @example return db.withContext(ctx, (tx) => tx.queryAndCommit('insert into … values ($1)', [v]))
   */
  queryAndCommit<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>>;
  /**
   * PostgreSQL only (absent on PGlite): streams the rows of one SELECT through
   * `COPY (select) TO STDOUT`, handing each row to `onRow` as it arrives: the line's bytes in
   * COPY text format (`parseCopyLine` splits it into fields), valid only during the call. Far
   * cheaper per row than the extended protocol's row messages for bulk reads. COPY takes no bind parameters, so `$1`… in `select`
   * are read back from a transaction-local setting holding `params` (sent as a bound parameter,
   * never spliced into the text); they arrive as text, so cast them (`$1::uuid`). Resolves with
   * the number of rows.
   * @example await tx.copyRows?.('select id from audit.events e where e.organization_id = $1::uuid', [orgId], (line) => ids.push(parseCopyLine(line)[0]))
   */
  readonly copyRows?: (
    select: string,
    params: readonly string[],
    onRow: (line: Buffer) => void,
  ) => Promise<number>;
}

/**
 * A low-level engine: it knows how to run a transaction as the connecting role and nothing
 * about Ward's roles or context. Only `platform/db` sees drivers.
 */
export interface Driver {
  readonly engine: EngineKind;
  /**
   * Runs `fn` inside BEGIN … COMMIT (ROLLBACK when it throws). `prelude` runs first, right
   * after BEGIN and before any statement of `fn`. With `preludeRows` set, `fn` receives the rows
   * of the prelude's last statement (and starts only once they are back); otherwise it receives
   * no rows and a networked engine may send its first statement without waiting for the prelude.
   */
  transaction<T>(
    fn: (tx: Tx, preludeRows: readonly Record<string, unknown>[]) => Promise<T>,
    prelude?: Prelude,
    opts?: TransactionOptions,
  ): Promise<T>;
  /** Runs one statement outside any explicit transaction (health checks, DDL that needs it). */
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>>;
  close(): Promise<void>;
  /** Connection pool counts, for metrics (engines without a pool leave it out). */
  stats?(): PoolStats;
}

/**
 * What runs right after BEGIN: parameterized statements (what Ward's context and
 * authentication use; PostgreSQL prepares them once per connection, so the opening is never
 * parsed or planned again), or, for tests and fixed scripts, one text run as it is.
 */
export type Prelude = string | readonly PreludeStatement[];

/** One parameterized statement of a prelude. */
export interface PreludeStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** How a driver opens a transaction. */
export interface TransactionOptions {
  /** `fn` needs the prelude's rows (an authentication call), so the prelude is awaited first. */
  readonly preludeRows?: boolean;
}

/** Connection pool counts. */
export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

/** The first row of a result that must have one (an INSERT … RETURNING, a count). */
export function firstRow<R>(r: QueryResult<R>): R {
  const row = r.rows[0];
  if (row === undefined) throw new Error('query returned no row where one was required');
  return row;
}
