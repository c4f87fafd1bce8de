import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

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
  checkSizes(key, nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()]);
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
    return Buffer.concat([head, decipher.final()]);
  } catch {
    head.fill(0);
    return undefined;
  }
}

/** A fresh random 96-bit nonce (random nonces are safe far beyond Ward's per-key volumes). */
export function randomNonce(): Buffer {
  return randomBytes(nonceBytes);
}

function checkSizes(key: Buffer, nonce: Buffer): void {
  if (key.length !== keyBytes) throw new Error('AES-256-GCM needs a 32-byte key');
  if (nonce.length !== nonceBytes) throw new Error('AES-256-GCM needs a 12-byte nonce');
}
