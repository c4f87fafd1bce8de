import { createHmac } from 'node:crypto';
import { WardError } from '../../platform/errors.ts';
import type { BlindIndexKind } from './registry.ts';

/**
 * Normalizes a value so that equal facts index equally: SSN → its 9 digits; email → trimmed,
 * lower-cased; phone → E.164 (10-digit numbers are taken as NANP, +1); names → case- and
 * accent-folded with single spaces; MRN → exactly as issued; last name + birth date →
 * folded name, a unit separator, and the YYYY-MM-DD date. Throws `invalid_phi_value`
 * (naming only the kind, never the value) when the value cannot be normalized.
 */
export function normalizeForIndex(kind: BlindIndexKind, value: string): string {
  switch (kind) {
    case 'ssn': {
      const digits = value.replace(/[\s-]/g, '');
      if (!/^\d{9}$/.test(digits)) throw invalid(kind);
      return digits;
    }
    case 'email': {
      const email = value.normalize('NFC').trim().toLowerCase();
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw invalid(kind);
      return email;
    }
    case 'phone':
      return toE164(value);
    case 'name': {
      const name = foldName(value);
      if (name === '') throw invalid(kind);
      return name;
    }
    case 'mrn':
      if (value === '' || value.length > 64) throw invalid(kind);
      return value;
    case 'name_dob': {
      // Exactly two parts: a separator inside the last name must not let it carry a birth date
      // of its own (the parts after the second would be ignored, and match another date).
      const parts = value.split('\u001f');
      const [last = '', dob = ''] = parts;
      if (parts.length !== 2 || !/^\d{4}-\d{2}-\d{2}$/.test(dob) || foldName(last) === '')
        throw invalid(kind);
      return `${foldName(last)}\u001f${dob}`;
    }
  }
}

/** The `name_dob` input for a last name and an ISO birth date. */
export function nameDobValue(lastName: string, dateOfBirth: string): string {
  return `${lastName}\u001f${dateOfBirth}`;
}

/** Case- and accent-folds a name: NFKD, drop combining marks, lower-case, collapse spaces. */
export function foldName(v: string): string {
  return v
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' -]/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function toE164(v: string): string {
  const plus = v.trim().startsWith('+');
  const digits = v.replace(/\D/g, '');
  let e164: string;
  if (plus) e164 = `+${digits}`;
  else if (digits.length === 10) e164 = `+1${digits}`;
  else if (digits.length === 11 && digits.startsWith('1')) e164 = `+${digits}`;
  else throw invalid('phone');
  if (!/^\+[1-9]\d{7,14}$/.test(e164)) throw invalid('phone');
  return e164;
}

function invalid(kind: BlindIndexKind): WardError {
  return new WardError('invalid_phi_value', `The ${kind} value cannot be normalized for search`, {
    kind,
  });
}

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

/** HMAC-SHA-256 of the normalized value under the column key, truncated to `bits`. */
export function computeBlindIndex(
  columnKey: Buffer,
  kind: BlindIndexKind,
  value: string,
  bits: number,
): Buffer {
  const normalized = normalizeForIndex(kind, value);
  return createHmac('sha256', columnKey)
    .update(normalized, 'utf8')
    .digest()
    .subarray(0, bits / 8);
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
