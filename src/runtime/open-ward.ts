import { openCrypto, type WardCrypto } from '../modules/crypto/index.ts';
import type { WardConfig } from '../platform/config.ts';
import { openDatabase, type Database } from '../platform/db/index.ts';
import type { Logger } from '../platform/log.ts';
import { createSecurityRecorder } from '../modules/audit/security-recorder.ts';
import { recordSystemAccess } from '../modules/audit/system-recorder.ts';

/** Everything a running Ward process (server or CLI command) shares. */
export interface WardRuntime {
  readonly config: WardConfig;
  readonly db: Database;
  readonly logger: Logger;
  /**
   * The PHI encryption module. Resolved on first use, so commands that never touch PHI
   * (`ward db migrate`) run without a KEK; the server resolves and verifies it at start and
   * refuses to start without a usable KEK.
   */
  readonly crypto: WardCrypto;
  /** Waits for queued audit writes (security events), then closes the database. */
  close(): Promise<void>;
}

/**
 * The composition root: opens the database and wires the modules' cross-cutting hooks into
 * it (every `asSystem` call is logged here; the audit module adds its recorder, and subscribes
 * to `crypto.onSecurityEvent`). The server and every CLI command start through this one
 * function, so no entry point can forget a hook.
 */
export async function openWard(
  config: WardConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<WardRuntime> {
  const db = await openDatabase(config);
  try {
    // Every RLS bypass writes an audit event inside the bypassing transaction.
    db.onSystemAccess(recordSystemAccess);
    db.onSystemAccessLogged((job) => {
      logger.info({ job: job.name }, 'system access');
    });
    let crypto: WardCrypto | undefined;
    const security = createSecurityRecorder(db, logger);
    return {
      config,
      db,
      logger,
      async close() {
        await security.drain();
        await db.close();
      },
      get crypto(): WardCrypto {
        if (crypto) return crypto;
        crypto = openCrypto(
          {
            env,
            embedded: db.engine === 'pglite',
            dataDir: config.dataDir,
            warn: (message) => {
              logger.warn(message);
            },
          },
          logger,
        );
        // Once, when the module is built: hooked on every access, each event was recorded as
        // many times as the runtime's crypto had been read.
        crypto.onSecurityEvent((e, delivery) => {
          security.handle(e, delivery);
        });
        crypto.recordSecurityEvents((tx, e) => security.record(tx, e));
        return crypto;
      },
    };
  } catch (e) {
    await db.close();
    throw e;
  }
}
