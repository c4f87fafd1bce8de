import { aesGcmOpen, aesGcmSealInto, fillNonce, nonceBytes, tagBytes } from './aead.ts';

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

/**
 * The associated data for a value at `place` under `header` (format byte + version):
 * domain, header, the organization's 16 UUID bytes, then table, column and row id (a UUID in
 * lower case), each as a 2-byte big-endian length and UTF-8 bytes. Built in one allocation
 * (it runs for every field).
 */
export function fieldAad(place: FieldPlace, header: Buffer): Buffer {
  const rowId = canonicalRowId(place.rowId);
  const table = Buffer.byteLength(place.table, 'utf8');
  const column = Buffer.byteLength(place.column, 'utf8');
  const row = Buffer.byteLength(rowId, 'utf8');
  const aad = Buffer.allocUnsafe(domain.length + header.length + 16 + 6 + table + column + row);
  let at = domain.copy(aad, 0);
  at += header.copy(aad, at);
  at = writeUuid(aad, at, place.orgId);
  at = writeField(aad, at, place.table, table);
  at = writeField(aad, at, place.column, column);
  writeField(aad, at, rowId, row);
  return aad;
}

const uuidText = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// Row ids are UUIDs, which PostgreSQL matches in any case: a route finds the row whatever
// spelling of its id the client sent, and a value sealed for `6F37…` would never open for
// the row's own `6f37…`. A UUID is bound in its canonical lower-case form (the form
// PostgreSQL prints, so every value sealed so far keeps its associated data).
function canonicalRowId(id: string): string {
  return /[A-F]/.test(id) && uuidText.test(id) ? id.toLowerCase() : id;
}

function writeField(out: Buffer, at: number, s: string, bytes: number): number {
  if (bytes > 0xffff) throw new Error('field place component too long');
  out.writeUInt16BE(bytes, at);
  return at + 2 + out.write(s, at + 2, bytes, 'utf8');
}

/** Encrypts `plaintext` for `place` with data key `key` of version `version`. */
export function sealField(
  key: Buffer,
  version: number,
  place: FieldPlace,
  plaintext: Buffer,
): Buffer {
  // One buffer for the whole stored value: header, nonce, then ciphertext and tag sealed in place.
  const stored = Buffer.allocUnsafe(headerBytes + nonceBytes + plaintext.length + tagBytes);
  stored[0] = fieldFormatV1;
  stored.writeUInt32BE(version, 1);
  fillNonce(stored, headerBytes);
  const header = stored.subarray(0, headerBytes);
  const nonce = stored.subarray(headerBytes, headerBytes + nonceBytes);
  aesGcmSealInto(key, nonce, fieldAad(place, header), plaintext, stored, headerBytes + nonceBytes);
  return stored;
}

/** Decrypts a stored value for `place`; undefined when it does not authenticate there. */
export function openField(key: Buffer, place: FieldPlace, stored: Buffer): Buffer | undefined {
  if (stored.length < minFieldBytes || stored[0] !== fieldFormatV1) return undefined;
  const header = stored.subarray(0, headerBytes);
  const nonce = stored.subarray(headerBytes, headerBytes + nonceBytes);
  return aesGcmOpen(key, nonce, fieldAad(place, header), stored.subarray(headerBytes + nonceBytes));
}

/** The highest key version: versions are PostgreSQL integers (`ward.encryption_keys.version`). */
export const maxKeyVersion = 0x7fffffff;

/**
 * The key version a stored value claims (unauthenticated until it is opened); undefined when
 * it claims none that can exist (a tampered or corrupt header), so the value fails like any
 * other that does not authenticate instead of reaching the database as an out-of-range number.
 */
export function fieldKeyVersion(stored: Buffer): number | undefined {
  if (stored.length < minFieldBytes || stored[0] !== fieldFormatV1) return undefined;
  const version = stored.readUInt32BE(1);
  return version >= 1 && version <= maxKeyVersion ? version : undefined;
}

/** The 16 raw bytes of a UUID, so the organization is bound canonically (case-insensitive). */
export function uuidBytes(id: string): Buffer {
  const out = Buffer.allocUnsafe(16);
  writeUuid(out, 0, id);
  return out;
}

// Organization ids recur on every field, so their bytes are parsed once and kept (a bounded,
// non-secret map: ids are not PHI and not keys).
const uuidCache = new Map<string, Buffer>();

function writeUuid(out: Buffer, at: number, id: string): number {
  let bytes = uuidCache.get(id);
  if (bytes === undefined) {
    const hex = id.replaceAll('-', '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error('not a UUID');
    bytes = Buffer.from(hex, 'hex');
    if (uuidCache.size >= 1024) uuidCache.clear();
    uuidCache.set(id, bytes);
  }
  return at + bytes.copy(out, at);
}
