import { contextPrelude, type RequestContext } from './context.ts';
import type { Driver, EngineKind, PoolStats, PreludeStatement, QueryResult, Tx } from './types.ts';

/** A named reason for a system job to run without row-level security. */
export interface SystemJob {
  /** Stable job name, e.g. `audit.seal` or `tenancy.create-organization`. */
  readonly name: string;
  /** Why it needs every tenant's rows; recorded with each use. */
  readonly reason: string;
  /** The organization the job acts for, when it acts for one. */
  readonly orgId?: string;
}

/** Receives every use of `asSystem` inside its transaction, so it can be audited. */
export type SystemAccessRecorder = (tx: Tx, job: SystemJob) => Promise<void>;

/**
 * Ward's database handle. Requests use `withContext` (runtime role `ward_app`, RLS applies);
 * background jobs that must see across tenants use `asSystem` (role `ward_system`, which has
 * BYPASSRLS), a deliberately greppable name whose every call is recorded.
 */
export class Database {
  readonly engine: EngineKind;
  readonly #driver: Driver;
  readonly #recorders: SystemAccessRecorder[] = [];
  readonly #systemListeners: ((job: SystemJob) => void)[] = [];

  constructor(driver: Driver) {
    this.#driver = driver;
    this.engine = driver.engine;
  }

  /**
   * Runs `fn` in one transaction as `ward_app` with the request context set.
   * @example await db.withContext({ orgId, userId, actorType: 'user' }, (tx) => repo.get(tx, id))
   */
  async withContext<T>(ctx: RequestContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#driver.transaction(fn, contextPrelude(ctx, 'ward_app'));
  }

  /**
   * Like `withContext`, but also runs `authentication` (a statement calling an authentication
   * function, with bound parameters) in the opening round trip and hands its first row to
   * `fn`, which decides whether to go on.
   */
  async withAuthenticatedContext<T>(
    ctx: RequestContext,
    authentication: PreludeStatement,
    fn: (tx: Tx, authRow: Readonly<Record<string, unknown>> | undefined) => Promise<T>,
  ): Promise<T> {
    return this.#driver.transaction(
      (tx, rows) => fn(tx, rows[0]),
      contextPrelude(ctx, 'ward_app', authentication),
      { preludeRows: true },
    );
  }

  /**
   * Like `withAuthenticatedContext`, for a principal the caller already knows: `confirmation`
   * is a statement that raises when the principal is no longer exactly what the caller holds
   * (the context `ctx` carries the user and session the caller believes in). It goes out with the opening and `fn` starts at once, so `fn`'s first statement
   * follows in the same write instead of a round trip later. PostgreSQL runs one connection's
   * statements in order: when the confirmation fails, the transaction is aborted before any
   * statement of `fn` runs, nothing commits, and the confirmation's error is what this rejects
   * with (whatever `fn` threw or returned meanwhile).
   */
  async withConfirmedContext<T>(
    ctx: RequestContext,
    confirmation: PreludeStatement,
    fn: (tx: Tx) => Promise<T>,
  ): Promise<T> {
    return this.#driver.transaction(fn, contextPrelude(ctx, 'ward_app', confirmation));
  }

  /**
   * Runs `fn` in one transaction as `ward_system`, bypassing RLS. Every call is announced to
   * the registered recorders inside the same transaction (the audit module writes an event),
   * so a bypass cannot happen without leaving a record.
   */
  async asSystem<T>(job: SystemJob, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const ctx: RequestContext = { orgId: job.orgId ?? '', actorType: 'system' };
    return this.#driver.transaction(
      async (tx) => {
        for (const recorder of this.#recorders) await recorder(tx, job);
        for (const listener of this.#systemListeners) listener(job);
        return fn(tx);
      },
      contextPrelude(ctx, 'ward_system'),
    );
  }

  /**
   * Runs `fn` as the connecting role itself. Only migrations and the database bootstrap use
   * this; in production that role is the migration administrator, not the server's login.
   */
  asAdmin<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#driver.transaction(fn);
  }

  /** Runs one statement outside a transaction as the connecting role (health checks). */
  ping(): Promise<QueryResult<{ ok: number }>> {
    return this.#driver.query<{ ok: number }>('select 1 as ok');
  }

  /** Connection pool counts for metrics; undefined on the embedded engine. */
  poolStats(): PoolStats | undefined {
    return this.#driver.stats?.();
  }

  /** Registers a recorder that is called inside every `asSystem` transaction. */
  onSystemAccess(recorder: SystemAccessRecorder): void {
    this.#recorders.push(recorder);
  }

  /** Registers a listener (logging) told about every `asSystem` call. */
  onSystemAccessLogged(listener: (job: SystemJob) => void): void {
    this.#systemListeners.push(listener);
  }

  /** The underlying driver, for `platform/db` internals (tests clone PGlite through it). */
  get driver(): Driver {
    return this.#driver;
  }

  /** Closes every connection. */
  close(): Promise<void> {
    return this.#driver.close();
  }
}
