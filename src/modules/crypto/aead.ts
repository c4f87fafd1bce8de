import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

/** AES-256-GCM parameters Ward uses everywhere: 256-bit key, 96-bit nonce, 128-bit tag. */
export const keyBytes = 32;
export const nonceBytes = 12;
export const tagBytes = 16;

/**
 * Encrypts with AES-256-GCM and returns `ciphertext || tag`. The one AEAD primitive: field
 * values and locally wrapped keys both go through it, so the published-vector tests cover both.
 * @example aesGcmSeal(key, randomNonce(), aad, Buffer.from('x'))
 */
export function aesGcmSeal(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + tagBytes);
  aesGcmSealInto(key, nonce, aad, plaintext, out, 0);
  return out;
}

/**
 * Like `aesGcmSeal`, but writes `ciphertext || tag` into `out` at `offset` (which must have
 * exactly `plaintext.length + tagBytes` bytes from there), so a caller that frames the result
 * (the field format) builds its value in one allocation.
 */
export function aesGcmSealInto(
  key: Buffer,
  nonce: Buffer,
  aad: Buffer,
  plaintext: Buffer,
  out: Buffer,
  offset: number,
): void {
  checkSizes(key, nonce);
  if (out.length - offset !== plaintext.length + tagBytes) {
    throw new Error('AES-256-GCM output buffer has the wrong size');
  }
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(aad);
  // GCM is a stream mode: update returns every byte at once and final returns none, but the
  // copies below do not rely on it.
  let at = offset + cipher.update(plaintext).copy(out, offset);
  at += cipher.final().copy(out, at);
  if (at !== offset + plaintext.length)
    throw new Error('AES-256-GCM produced an unexpected length');
  cipher.getAuthTag().copy(out, at);
}

/**
 * Decrypts `ciphertext || tag` with AES-256-GCM; returns undefined (never partial plaintext)
 * when authentication fails, so callers must decide how to report it.
 */
export function aesGcmOpen(
  key: Buffer,
  nonce: Buffer,
  aad: Buffer,
  sealed: Buffer,
): Buffer | undefined {
  checkSizes(key, nonce);
  if (sealed.length < tagBytes) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: tagBytes });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes));
  const head = decipher.update(sealed.subarray(0, sealed.length - tagBytes));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    head.fill(0);
    return undefined;
  }
}

// Nonces are cut from a pool of CSPRNG output refilled 256 nonces at a time: one call into
// OpenSSL's RNG per 256 encryptions instead of one per encryption (the per-call overhead was
// larger than the cipher's own cost for short fields). Each slice is handed out once and wiped
// from the pool, so no nonce is ever returned twice; the bytes are the same CSPRNG output.
const noncePool = Buffer.alloc(nonceBytes * 256);
let noncePoolOffset = noncePool.length;

/** Writes a fresh random 96-bit nonce into `out` at `offset`. */
export function fillNonce(out: Buffer, offset: number): void {
  if (noncePoolOffset === noncePool.length) {
    randomFillSync(noncePool);
    noncePoolOffset = 0;
  }
  const end = noncePoolOffset + nonceBytes;
  noncePool.copy(out, offset, noncePoolOffset, end);
  noncePool.fill(0, noncePoolOffset, end);
  noncePoolOffset = end;
}

/** A fresh random 96-bit nonce (random nonces are safe far beyond Ward's per-key volumes). */
export function randomNonce(): Buffer {
  const nonce = Buffer.allocUnsafe(nonceBytes);
  fillNonce(nonce, 0);
  return nonce;
}

function checkSizes(key: Buffer, nonce: Buffer): void {
  if (key.length !== keyBytes) throw new Error('AES-256-GCM needs a 32-byte key');
  if (nonce.length !== nonceBytes) throw new Error('AES-256-GCM needs a 12-byte nonce');
}
