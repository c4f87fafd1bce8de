import type { FastifyInstance } from 'fastify';
import type { WardConfig } from '../platform/config.ts';
import { migrate, migrationStatus } from '../platform/db/migrate.ts';
import type { Database } from '../platform/db/index.ts';
import { openWard, type WardRuntime } from '../runtime/open-ward.ts';
import { WardError } from '../platform/errors.ts';
import { buildApp } from '../platform/http/app.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import { apiModules } from './modules.ts';
import { phiGuard } from '../modules/audit/http/phi-guard.ts';
import { ensurePartitions } from '../modules/audit/partitions.ts';
import { seal } from '../modules/audit/sealer.ts';
import { leftoverImportKeyWarning } from '../modules/audit/signing-key.ts';
import { SigningKeyCustody } from '../modules/audit/signing-keys.ts';
import { startJobs } from '../platform/jobs/job-runner.ts';
import { ruleFromEnv } from '../platform/http/rate-limit.ts';
import { trustProxyFromEnv } from '../platform/http/client-address.ts';
import { purgeExpiredKeys } from '../platform/http/idempotency.ts';
import { cursorKeyFromEnv, useCursorKey, useCursorKeys } from '../platform/http/pagination.ts';
import { LocalObjectStore } from '../platform/objects/local-store.ts';
import { sweepImageObjects } from '../modules/clinical/images-sweep.ts';
import { purgeStaleThrottle } from '../modules/auth/throttle-repo.ts';
import { startKeyEventListener, type KeyEventListener } from '../modules/crypto/key-events.ts';
import { CursorKeyCustody, cursorKeyRefreshMs } from '../modules/crypto/cursor-keys.ts';

/** A running server and how to stop it. */
export interface RunningServer {
  readonly app: FastifyInstance;
  readonly db: Database;
  readonly logger: Logger;
  readonly address: string;
  /** Stops accepting connections, lets in-flight requests finish, closes the database. */
  stop(): Promise<void>;
}

/** Options for `ward serve`. */
export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly logger?: Logger;
  /** Where the KEK configuration is read from (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** How often the audit sealer runs (default 10 s; WARD_AUDIT_SEAL_INTERVAL_MS). */
  readonly sealIntervalMs?: number;
  /**
   * Runs once the schema is current and the KEK verified, before the server listens (the
   * demo seeds its data here, on the same connection: the embedded engine has only one).
   */
  readonly prepare?: (runtime: WardRuntime) => Promise<void>;
}

// Generous defaults: a busy integration should not hit them, a runaway loop or scraper will.
const ipDefault = { burst: 300, perMinute: 1200 };
const principalDefault = { burst: 200, perMinute: 600 };

/**
 * Opens the database, makes sure the schema is current, builds the app and listens. On the
 * embedded engine pending migrations are applied (it is a single-user development database);
 * on PostgreSQL the server refuses to start until an operator has run `ward db migrate`.
 */
export async function startServer(config: WardConfig, opts: ServeOptions): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const runtime = await openWard(config, logger, opts.env);
  const { db } = runtime;
  let keyEvents: KeyEventListener | undefined;
  try {
    const pending = (await migrationStatus(db)).filter((m) => m.state === 'pending');
    if (pending.length > 0) {
      if (db.engine !== 'pglite') {
        throw new WardError(
          'config_invalid',
          `${pending.length} migration(s) are pending; run \`ward db migrate\` before starting the server`,
        );
      }
      await migrate(db);
    }
    // No KEK, or one that cannot unwrap the stored keys: refuse to start rather than serve
    // errors, ciphertext or garbage.
    await runtime.crypto.verify(db);
    // The same for the audit signing key: unwrap (or create) it now, so a wrong KEK stops the
    // start instead of every sealing run.
    const signingKeys = new SigningKeyCustody(runtime.crypto.keyring);
    await signingKeys.activeSigner(db);
    if (opts.prepare) await opts.prepare(runtime);
    const env = opts.env ?? process.env;
    if (env['WARD_AUDIT_SIGNING_KEY']) logger.warn(leftoverImportKeyWarning);
    // Pagination cursors are signed and encrypted (pagination.ts) under a key every replica
    // and every restart shares: WARD_CURSOR_KEY when the operator sets one, otherwise the
    // stored versions, wrapped by the KEK (created by the first server to start).
    const configuredCursorKey = cursorKeyFromEnv(env);
    const cursorKeys = configuredCursorKey
      ? undefined
      : new CursorKeyCustody(runtime.crypto.keyring);
    if (configuredCursorKey) useCursorKey(configuredCursorKey);
    else if (cursorKeys) useCursorKeys(await cursorKeys.load(db));
    const objectStore = new LocalObjectStore(config.objectDir);
    const app = await buildApp({
      db,
      logger,
      plugins: [phiGuard],
      modules: apiModules(runtime, {
        objectStore,
        principalRateLimit: ruleFromEnv(env, 'WARD_RATE_LIMIT_PRINCIPAL', principalDefault),
      }),
      ipRateLimit: ruleFromEnv(env, 'WARD_RATE_LIMIT_IP', ipDefault),
      bodyTimeoutMs: config.bodyTimeoutMs,
      trustProxy: trustProxyFromEnv(env),
      metrics: { token: env['WARD_METRICS_TOKEN'] || undefined },
    });
    // Shreds and retirements committed by other processes (the CLI, other replicas) reach this
    // keyring through PostgreSQL notifications (src/modules/crypto/key-events.ts). Not on the
    // embedded engine: this server holds its data directory, so no other process can shred.
    keyEvents =
      db.engine === 'postgres' && config.databaseUrl
        ? startKeyEventListener({
            connectionString: config.databaseUrl,
            keyring: runtime.crypto.keyring,
            logger,
          })
        : undefined;
    const address = await app.listen({ host: opts.host, port: opts.port });
    // Background jobs: the audit sealer and partition upkeep (DESIGN.md section 5).
    const jobs = startJobs(
      [
        {
          name: 'audit.seal',
          intervalMs: opts.sealIntervalMs ?? 10_000,
          run: () => seal(db, signingKeys),
        },
        { name: 'audit.partitions', intervalMs: 3_600_000, run: () => ensurePartitions(db) },
        // Versions added by `ward keys rotate-cursor` reach this server before they take effect
        // (the rotation announces them ahead). Not on the embedded engine: no other process
        // can rotate while this one holds the data directory.
        ...(cursorKeys && db.engine !== 'pglite'
          ? [
              {
                name: 'cursor-keys.refresh',
                intervalMs: cursorKeyRefreshMs,
                run: async () => {
                  useCursorKeys(await cursorKeys.load(db));
                },
              },
            ]
          : []),
        {
          name: 'idempotency.purge',
          intervalMs: 3_600_000,
          run: async () => {
            await db.asSystem(
              { name: 'idempotency.purge', reason: 'delete expired idempotency keys' },
              purgeExpiredKeys,
            );
          },
        },
        {
          // Login throttle rows whose window is over and that block nothing (see security.md).
          name: 'auth.throttle-purge',
          intervalMs: 3_600_000,
          run: async () => {
            await db.asSystem(
              { name: 'auth.throttle-purge', reason: 'delete throttle rows that count nothing' },
              purgeStaleThrottle,
            );
          },
        },
        {
          // Image files a crash left without their row (see docs/operations.md).
          name: 'objects.sweep',
          intervalMs: 6 * 3_600_000,
          run: async () => {
            const r = await sweepImageObjects(db, objectStore);
            if (r.unreferenced > 0 || r.staged > 0)
              logger.warn(
                { unreferenced: r.unreferenced, bytes: r.unreferencedBytes, staged: r.staged },
                'removed image objects no row references',
              );
          },
        },
      ],
      {
        onError: (job, err) => {
          logger.error({ job, err }, 'background job failed');
        },
      },
    );
    await jobs.runNow('audit.partitions');
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        await app.close();
        await jobs.stop();
        await keyEvents?.stop();
        runtime.crypto.keyring.clear();
        await runtime.close();
      })();
      return stopping;
    };
    return { app, db, logger, address, stop };
  } catch (e) {
    await keyEvents?.stop();
    await runtime.close();
    throw e;
  }
}
