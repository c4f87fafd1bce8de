import { loadConfig, type WardConfig } from '../platform/config.ts';
import { openDatabase, type Database } from '../platform/db/index.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import type { CliIo } from './command.ts';

/** What a command that touches the database gets. */
export interface Runtime {
  readonly config: WardConfig;
  readonly db: Database;
  readonly logger: Logger;
}

/**
 * Opens configuration, logger and database for one command, runs `fn`, and closes the
 * database whatever happens (the embedded engine's lock is released with it).
 */
export async function withRuntime<T>(io: CliIo, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig(io.env);
  // CLI commands log warnings only, to stderr, so that stdout stays machine-readable.
  const logger = createLogger(io.env['WARD_LOG_LEVEL'] ?? 'warn', io.stderr);
  const db = await openDatabase(config);
  db.onSystemAccessLogged((job) => {
    logger.info({ job: job.name }, 'system access');
  });
  try {
    return await fn({ config, db, logger });
  } finally {
    await db.close();
  }
}
