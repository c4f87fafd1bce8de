import {
  createPrivateKey,
  createPublicKey,
  hash,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';

/**
 * What the sealer needs from a key: an id, the public key and a signing function. In Ward the
 * signer comes from the key custody (signing-keys.ts: the seed is stored wrapped by the KEK
 * provider); tests and benchmarks build one with `signerFromSeed`.
 */
export interface CheckpointSigner {
  /** `ed25519:` + the first 16 bytes of SHA-256(public key), hex. */
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** Ed25519 signature (64 bytes) over `bytes`. */
  sign(bytes: Uint8Array): Buffer;
}

/**
 * Where a sealing round gets its signer: asked inside the round's transaction, after the
 * sealing lock is held (the key custody reads the active key there).
 */
export interface SignerSource {
  signerFor(tx: Tx): Promise<CheckpointSigner>;
}

/** A public key that verification trusts. */
export interface TrustedKey {
  readonly keyId: string;
  readonly publicKey: Buffer;
}

// PKCS#8 and SPKI DER prefixes for raw Ed25519 keys (RFC 8410).
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

/** The key id of a raw Ed25519 public key. */
export function keyIdFor(publicKey: Buffer): string {
  return `ed25519:${hash('sha256', publicKey, 'hex').slice(0, 32)}`;
}

/** A signer over a raw 32-byte Ed25519 seed (the private key). */
export function signerFromSeed(seed: Uint8Array): CheckpointSigner {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed has 32 bytes');
  const key: KeyObject = createPrivateKey({
    key: Buffer.concat([pkcs8Prefix, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(spkiPrefix.length));
  return Object.freeze({
    keyId: keyIdFor(publicKey),
    publicKey,
    sign: (bytes: Uint8Array) => edSign(null, bytes, key),
  });
}

/** Verifies an Ed25519 signature with a raw public key. */
export function verifySignature(publicKey: Buffer, bytes: Uint8Array, signature: Buffer): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const key = createPublicKey({
    key: Buffer.concat([spkiPrefix, publicKey]),
    format: 'der',
    type: 'spki',
  });
  return edVerify(null, bytes, key, signature);
}
