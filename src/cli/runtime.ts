import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { openWard, type WardRuntime } from '../runtime/open-ward.ts';
import type { CliIo } from './command.ts';
import { requireMigrated } from './migrated.ts';

/** What a command that touches the database gets. */
export type Runtime = WardRuntime;

/** Options of `withRuntime`. */
export interface RuntimeOptions {
  /**
   * Refuse (config_invalid, "the database is not migrated") while migrations are pending.
   * On by default, so every data command says the same thing on an unmigrated database;
   * only the `db` commands, which manage the schema itself, turn it off.
   */
  readonly requireMigrated?: boolean;
}

/**
 * Opens configuration, logger and database for one command, runs `fn`, and closes the
 * database whatever happens (the embedded engine's lock is released with it).
 */
export async function withRuntime<T>(
  io: CliIo,
  fn: (rt: Runtime) => Promise<T>,
  opts: RuntimeOptions = {},
): Promise<T> {
  const config = loadConfig(io.env);
  // CLI commands log warnings only, to stderr, so that stdout stays machine-readable, unless
  // WARD_LOG_LEVEL names a level (an empty one means unset; loadConfig refused any other).
  const level = (io.env['WARD_LOG_LEVEL'] ?? '').trim() === '' ? 'warn' : config.logLevel;
  const logger = createLogger(level, io.stderr);
  const rt = await openWard(config, logger, io.env);
  try {
    if (opts.requireMigrated !== false) await requireMigrated(rt.db);
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
