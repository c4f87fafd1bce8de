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
  /** Where the local object store keeps encrypted files (medical images). */
  readonly objectDir: string;
  /** Largest accepted medical image upload, in bytes (enforced while streaming). */
  readonly imageMaxBytes: number;
}

/** Reads the configuration from `env` (defaults to `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): WardConfig {
  const databaseUrl = nonEmpty(env['DATABASE_URL']);
  const poolSize = Number(env['WARD_POOL_SIZE'] ?? '20');
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 500) {
    throw new WardError('config_invalid', 'WARD_POOL_SIZE must be an integer from 1 to 500');
  }
  const imageMaxBytes = Number(env['WARD_IMAGE_MAX_BYTES'] ?? String(50 * 1024 * 1024));
  if (!Number.isInteger(imageMaxBytes) || imageMaxBytes < 1 || imageMaxBytes > 2 ** 40) {
    throw new WardError('config_invalid', 'WARD_IMAGE_MAX_BYTES must be a positive integer');
  }
  const dataDir = path.resolve(nonEmpty(env['WARD_DATA_DIR']) ?? '.ward');
  return Object.freeze({
    databaseUrl,
    dataDir,
    objectDir: path.resolve(nonEmpty(env['WARD_OBJECT_DIR']) ?? path.join(dataDir, 'objects')),
    imageMaxBytes,
    logLevel: nonEmpty(env['WARD_LOG_LEVEL']) ?? 'info',
    poolSize,
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}
