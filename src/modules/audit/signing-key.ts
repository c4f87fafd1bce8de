import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { WardConfig } from '../../platform/config.ts';
import { WardError } from '../../platform/errors.ts';
import { signerFromSeed, type CheckpointSigner } from './signer.ts';

/** The checkpoint signer and where its key came from. */
export interface LoadedSigner {
  readonly signer: CheckpointSigner;
  /** `env` for WARD_AUDIT_SIGNING_KEY, `dev-file` for the embedded development key. */
  readonly source: 'env' | 'dev-file';
  /** The development key file, when one was used (or created). */
  readonly file?: string;
  readonly created?: boolean;
}

/** File name of the development signing key under WARD_DATA_DIR. */
export const devKeyFileName = 'audit-signing-key.dev';

/**
 * Finds the checkpoint signing key. Interim until the crypto module's KEK provider holds it:
 * WARD_AUDIT_SIGNING_KEY (base64 of a 32-byte Ed25519 seed) wins; on the embedded database a
 * development key file is created under WARD_DATA_DIR (mode 0600) and reported as such; on
 * PostgreSQL without a key, Ward refuses rather than sign with a key nobody manages.
 */
export function loadAuditSigner(
  config: WardConfig,
  env: NodeJS.ProcessEnv = process.env,
): LoadedSigner {
  const given = env['WARD_AUDIT_SIGNING_KEY']?.trim();
  if (given) {
    const seed = Buffer.from(given, 'base64');
    if (seed.length !== 32) {
      throw new WardError(
        'config_invalid',
        'WARD_AUDIT_SIGNING_KEY must be the base64 encoding of exactly 32 bytes',
      );
    }
    return { signer: signerFromSeed(seed), source: 'env' };
  }
  if (config.databaseUrl) {
    throw new WardError(
      'config_invalid',
      'WARD_AUDIT_SIGNING_KEY is not set. On PostgreSQL, audit checkpoints must be signed with a managed key: set it to the base64 of 32 random bytes (e.g. `openssl rand -base64 32`) and keep it out of the database.',
    );
  }
  const file = path.join(config.dataDir, devKeyFileName);
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, {
        flag: 'wx',
        mode: 0o600,
      });
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const seed = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (seed.length !== 32) {
    throw new WardError('config_invalid', `${file} does not hold a base64 32-byte key`);
  }
  return { signer: signerFromSeed(seed), source: 'dev-file', file, created };
}

/** The warning printed whenever the development key signs checkpoints. */
export function devKeyWarning(file: string): string {
  return `audit checkpoints are signed with a DEVELOPMENT-ONLY key (${file}); set WARD_AUDIT_SIGNING_KEY for any real deployment`;
}
