import { aesGcmOpen, aesGcmSeal, nonceBytes, randomNonce, tagBytes } from './aead.ts';

/**
 * The stored form of an encrypted field, format 1:
 *
 *   byte 0       format (0x01 = AES-256-GCM)
 *   bytes 1..4   key version, unsigned big-endian
 *   bytes 5..16  96-bit random nonce
 *   then         ciphertext || 128-bit tag
 *
 * The header is part of the associated data, so a value whose version byte is edited fails
 * to authenticate just like one whose ciphertext is.
 */
export const fieldFormatV1 = 0x01;
export const headerBytes = 5;
export const minFieldBytes = headerBytes + nonceBytes + tagBytes;

/** Where a value lives. The AEAD binds the ciphertext to exactly this place. */
export interface FieldPlace {
  readonly orgId: string;
  /** Schema-qualified table, e.g. `clinical.patients`. */
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
}

const domain = Buffer.from('ward.field.v1\0', 'latin1');

/** The associated data for a value at `place` under `header` (format byte + version). */
export function fieldAad(place: FieldPlace, header: Buffer): Buffer {
  const parts = [domain, header, uuidBytes(place.orgId)];
  for (const s of [place.table, place.column, place.rowId]) {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/** Encrypts `plaintext` for `place` with data key `key` of version `version`. */
export function sealField(
  key: Buffer,
  version: number,
  place: FieldPlace,
  plaintext: Buffer,
): Buffer {
  const header = Buffer.alloc(headerBytes);
  header[0] = fieldFormatV1;
  header.writeUInt32BE(version, 1);
  const nonce = randomNonce();
  return Buffer.concat([header, nonce, aesGcmSeal(key, nonce, fieldAad(place, header), plaintext)]);
}

/** Decrypts a stored value for `place`; undefined when it does not authenticate there. */
export function openField(key: Buffer, place: FieldPlace, stored: Buffer): Buffer | undefined {
  if (stored.length < minFieldBytes || stored[0] !== fieldFormatV1) return undefined;
  const header = stored.subarray(0, headerBytes);
  const nonce = stored.subarray(headerBytes, headerBytes + nonceBytes);
  return aesGcmOpen(key, nonce, fieldAad(place, header), stored.subarray(headerBytes + nonceBytes));
}

/** The key version a stored value claims (unauthenticated until it is opened). */
export function fieldKeyVersion(stored: Buffer): number | undefined {
  if (stored.length < minFieldBytes || stored[0] !== fieldFormatV1) return undefined;
  return stored.readUInt32BE(1);
}

/** The 16 raw bytes of a UUID, so the organization is bound canonically (case-insensitive). */
export function uuidBytes(id: string): Buffer {
  const hex = id.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error('not a UUID');
  return Buffer.from(hex, 'hex');
}
