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
  /**
   * How long an image upload may go without receiving a byte before it is refused (408): an
   * upload holds a file and a socket, not a database connection, so only this bounds a
   * client that stops sending.
   */
  readonly imageUploadIdleMs: number;
  /**
   * How long an image download may go without the client taking a byte before its response
   * is aborted: a download holds an open file and the image's content key in memory until
   * it ends, so only this bounds a client that stops reading but keeps the connection open.
   */
  readonly imageDownloadIdleMs: number;
  /**
   * How long a JSON request body may take to arrive (408 after it): JSON bodies are buffered
   * before their handler runs, so without a bound a client trickling one holds a connection
   * and the shutdown for ever. Streamed uploads use `imageUploadIdleMs` instead.
   */
  readonly bodyTimeoutMs: number;
}

/** The levels WARD_LOG_LEVEL may name (pino's). */
const logLevels: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

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
  const idleSeconds = Number(env['WARD_IMAGE_UPLOAD_IDLE_SECONDS'] ?? '60');
  if (!Number.isInteger(idleSeconds) || idleSeconds < 1 || idleSeconds > 3600) {
    throw new WardError(
      'config_invalid',
      'WARD_IMAGE_UPLOAD_IDLE_SECONDS must be an integer from 1 to 3600',
    );
  }
  const downloadIdleSeconds = Number(env['WARD_DOWNLOAD_IDLE_SECONDS'] ?? '60');
  if (
    !Number.isInteger(downloadIdleSeconds) ||
    downloadIdleSeconds < 1 ||
    downloadIdleSeconds > 3600
  ) {
    throw new WardError(
      'config_invalid',
      'WARD_DOWNLOAD_IDLE_SECONDS must be an integer from 1 to 3600',
    );
  }
  const bodySeconds = Number(env['WARD_BODY_TIMEOUT_SECONDS'] ?? '30');
  if (!Number.isInteger(bodySeconds) || bodySeconds < 1 || bodySeconds > 3600) {
    throw new WardError(
      'config_invalid',
      'WARD_BODY_TIMEOUT_SECONDS must be an integer from 1 to 3600',
    );
  }
  const logLevel = nonEmpty(env['WARD_LOG_LEVEL']) ?? 'info';
  if (!logLevels.includes(logLevel)) {
    // The value is not echoed: it may be a secret pasted into the wrong variable.
    throw new WardError('config_invalid', `WARD_LOG_LEVEL must be one of ${logLevels.join(', ')}`);
  }
  const dataDir = path.resolve(nonEmpty(env['WARD_DATA_DIR']) ?? '.ward');
  return Object.freeze({
    databaseUrl,
    dataDir,
    objectDir: path.resolve(nonEmpty(env['WARD_OBJECT_DIR']) ?? path.join(dataDir, 'objects')),
    imageMaxBytes,
    imageUploadIdleMs: idleSeconds * 1000,
    imageDownloadIdleMs: downloadIdleSeconds * 1000,
    bodyTimeoutMs: bodySeconds * 1000,
    logLevel,
    poolSize,
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}
