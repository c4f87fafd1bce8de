import path from 'node:path';
import { WardError } from './errors.ts';

/** Runtime configuration, read once from the environment and then immutable. */
export interface WardConfig {
  /** PostgreSQL connection string; when absent the embedded PGlite engine is used. */
  readonly databaseUrl: string | undefined;
  /** Where the embedded engine keeps its files. */
  readonly dataDir: string;
  readonly logLevel: string;
  readonly poolSize: number;
}

/** Reads the configuration from `env` (defaults to `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): WardConfig {
  const databaseUrl = nonEmpty(env['DATABASE_URL']);
  const poolSize = Number(env['WARD_POOL_SIZE'] ?? '20');
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 500) {
    throw new WardError('config_invalid', 'WARD_POOL_SIZE must be an integer from 1 to 500');
  }
  return Object.freeze({
    databaseUrl,
    dataDir: path.resolve(nonEmpty(env['WARD_DATA_DIR']) ?? '.ward'),
    logLevel: nonEmpty(env['WARD_LOG_LEVEL']) ?? 'info',
    poolSize,
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}
