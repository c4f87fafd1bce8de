import { createHmac } from 'node:crypto';
import { currentNormalization, nameDobValue, normalizeForIndex } from './normalize.ts';
import type { BlindIndexKind } from './registry.ts';

// The normalization rules live in normalize.ts, in numbered versions; these are re-exported so
// that callers keep one import for everything about blind indexes.
export {
  currentNormalization,
  foldName,
  nameDobValue,
  normalizeForIndex,
  sameIndexedValue,
} from './normalize.ts';

/**
 * The key of one blind-index column, derived from the organization's index root so that equal
 * values in two columns (or two organizations) never produce comparable hashes.
 */
export function deriveIndexKey(root: Buffer, qualifiedColumn: string): Buffer {
  return createHmac('sha256', root).update(`ward.bidx.v1\0${qualifiedColumn}`).digest();
}

/**
 * The organization's key for idempotency request hashes (`ward.idempotency_keys`), derived
 * from its index root under a label of its own: no blind-index label (`ward.bidx.v1\0…`) is
 * equal to it, so the key, and every hash made with it, is unrelated to any blind index.
 */
export function deriveRequestHashKey(root: Buffer): Buffer {
  return createHmac('sha256', root).update('ward.idempotency.v1').digest();
}

/**
 * The organization's key for MFA recovery-code hashes (`ward.recovery_codes`), derived from its
 * index root under a label of its own (unequal to every blind-index and idempotency label): a
 * copy of the database, without the KEK, cannot test a guessed code against any stored hash.
 */
export function deriveRecoveryCodeKey(root: Buffer): Buffer {
  return createHmac('sha256', root).update('ward.recovery-code.v1').digest();
}

/**
 * HMAC-SHA-256 of the value normalized under `version` (default: current) with the column key,
 * truncated to `bits`. The key does not depend on the normalization version, so a value whose
 * normalization a new version leaves alone keeps its index.
 */
export function computeBlindIndex(
  columnKey: Buffer,
  kind: BlindIndexKind,
  value: string,
  bits: number,
  version: number = currentNormalization,
): Buffer {
  return hashNormalized(columnKey, normalizeForIndex(kind, value, version), bits);
}

/** HMAC-SHA-256 of an already normalized value under the column key, truncated to `bits`. */
export function hashNormalized(columnKey: Buffer, normalized: string, bits: number): Buffer {
  return createHmac('sha256', columnKey)
    .update(normalized, 'utf8')
    .digest()
    .subarray(0, bits / 8);
}

/**
 * The input of an index from its source values in the registered order (`name_dob`: last
 * name, birth date), or null when a source is empty (the row has no such index).
 */
export function indexInput(
  kind: BlindIndexKind,
  sources: readonly (string | null)[],
): string | null {
  if (sources.some((s) => s === null)) return null;
  const [a = '', b = ''] = sources as readonly string[];
  return kind === 'name_dob' ? nameDobValue(a, b) : a;
}

/**
 * Chooses an index length from the expected number of rows per organization: enough bits
 * that a lookup's expected coincidental matches, rows / 2^bits, stay below 2^-slackBits
 * (default 1 in 1024), rounded up to whole bytes. Short enough that the index alone does not
 * single out one value across organizations, long enough that candidates are nearly always
 * the real match (the repository re-checks candidates after decryption anyway).
 * @example blindIndexBits(10_000_000) // 40
 */
export function blindIndexBits(expectedRows: number, slackBits = 10): number {
  const needed = Math.ceil(Math.log2(Math.max(2, expectedRows))) + slackBits;
  return Math.min(256, Math.max(16, Math.ceil(needed / 8) * 8));
}
