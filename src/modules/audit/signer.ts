import {
  createPrivateKey,
  createPublicKey,
  hash,
  hkdfSync,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';

/**
 * What the sealer needs from a key: an id, the public key and a signing function. The crypto
 * module's KEK provider will supply one (the private key never leaves it); until then
 * `signerFromSeed` builds one from key material handed in by the caller.
 */
export interface CheckpointSigner {
  /** `ed25519:` + the first 16 bytes of SHA-256(public key), hex. */
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** Ed25519 signature (64 bytes) over `bytes`. */
  sign(bytes: Uint8Array): Buffer;
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

/**
 * A signer derived from key material (HKDF-SHA256 with a fixed, purpose-bound label), so the
 * KEK provider can hand over one secret without it ever signing anything else.
 */
export function signerFromKeyMaterial(material: Uint8Array): CheckpointSigner {
  if (material.length < 32) throw new RangeError('key material must have at least 32 bytes');
  const seed = hkdfSync('sha256', material, 'ward', 'ward audit checkpoint signing v1', 32);
  return signerFromSeed(new Uint8Array(seed));
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
