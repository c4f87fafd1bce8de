import fs from 'node:fs';
import type { WardConfig } from '../../platform/config.ts';
import { WardError } from '../../platform/errors.ts';
import {
  devKeyWarning,
  loadAuditSigner,
  type LoadedSigner,
} from '../../modules/audit/signing-key.ts';
import type { TrustedKey } from '../../modules/audit/signer.ts';
import type { CliIo } from '../command.ts';

/** Loads the signer, warning on stderr when it is the development key. */
export function signerForCli(config: WardConfig, io: CliIo): LoadedSigner {
  const loaded = loadAuditSigner(config, io.env);
  if (loaded.source === 'dev-file' && loaded.file)
    io.stderr.write(`warning: ${devKeyWarning(loaded.file)}\n`);
  return loaded;
}

/** Reads a public key document written by `ward audit checkpoint export --public-key`. */
export function readPublicKeyFile(file: string): TrustedKey {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { keyId?: unknown; publicKey?: unknown };
  if (typeof doc.keyId !== 'string' || typeof doc.publicKey !== 'string') {
    throw new WardError('bad_request', `${file} is not a Ward audit public key document`);
  }
  return { keyId: doc.keyId, publicKey: Buffer.from(doc.publicKey, 'base64') };
}

/**
 * The keys verify trusts: those given with --public-key, plus the configured signer's when
 * one is configured (never keys read from the database).
 */
export function trustedKeysForCli(
  config: WardConfig,
  io: CliIo,
  files: readonly string[],
): TrustedKey[] {
  const keys = files.map(readPublicKeyFile);
  try {
    const { signer } = loadAuditSigner(config, io.env);
    keys.push({ keyId: signer.keyId, publicKey: signer.publicKey });
  } catch (e) {
    if (keys.length === 0) throw e;
  }
  return keys;
}
