import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { openWard, type WardRuntime } from '../runtime/open-ward.ts';
import type { CliIo } from './command.ts';

/** What a command that touches the database gets. */
export type Runtime = WardRuntime;

/**
 * Opens configuration, logger and database for one command, runs `fn`, and closes the
 * database whatever happens (the embedded engine's lock is released with it).
 */
export async function withRuntime<T>(io: CliIo, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig(io.env);
  // CLI commands log warnings only, to stderr, so that stdout stays machine-readable.
  const logger = createLogger(io.env['WARD_LOG_LEVEL'] ?? 'warn', io.stderr);
  const rt = await openWard(config, logger, io.env);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
