import { WardError, isWardError } from '../../platform/errors.ts';
import type { BlindIndexKind } from './registry.ts';

/**
 * Blind-index normalization, in numbered versions. A stored index is an HMAC of the normalized
 * value, so changing a rule changes the hashes of the values it touches: the version a column's
 * indexes were computed with is recorded per organization (`ward.blind_index_normalization`,
 * migration 0023), search looks a value up in every form still stored, and `ward keys reindex`
 * moves stored indexes to the current version. A published version's rules never change.
 *
 * - Version 1 (until migration 0023): the rules as first shipped, kept below unchanged.
 * - Version 2: invisible characters removed, compatibility forms folded (NFKC: full-width
 *   letters, digits and `＠`), apostrophe and dash look-alikes folded to `'` and `-`, and the
 *   digits of every script read as ASCII digits in SSNs and phone numbers.
 */
export const currentNormalization = 2;

/**
 * The versions in which a kind's rules changed. SSN and MRN rules did not change in version 2
 * for any value version 1 accepted (version 2 only accepts more), so their stored indexes stay
 * valid and need no reindex.
 */
const changedIn: Readonly<Record<BlindIndexKind, readonly number[]>> = {
  ssn: [1],
  mrn: [1],
  email: [1, 2],
  phone: [1, 2],
  name: [1, 2],
  name_dob: [1, 2],
};

/**
 * Normalizes a value so that equal facts index equally, under `version` (default: current).
 * Throws `invalid_phi_value` (naming only the kind, never the value) when the value cannot be
 * normalized under that version.
 */
export function normalizeForIndex(
  kind: BlindIndexKind,
  value: string,
  version: number = currentNormalization,
): string {
  if (version === 1) return normalizeV1(kind, value);
  if (version === 2) return normalizeV2(kind, value);
  throw new Error(`unknown blind-index normalization version ${version}`);
}

/**
 * The versions whose forms a search must try when a column's stored indexes were computed with
 * `floor` or a later version: the current one first, then one per older set of rules for the
 * kind (versions with identical rules for the kind give identical forms and are tried once).
 * @example searchVersions('email', 1) // [2, 1]; searchVersions('ssn', 1) // [2]
 */
export function searchVersions(kind: BlindIndexKind, floor: number): number[] {
  const out = [currentNormalization];
  for (let v = currentNormalization - 1; v >= Math.max(1, floor); v--) {
    if (changedIn[kind].includes(v + 1)) out.push(v);
  }
  return out;
}

/** Whether the kind's rules changed after version `from`: its stored indexes need a reindex. */
export function changedSince(kind: BlindIndexKind, from: number): boolean {
  return changedIn[kind].some((v) => v > from && v <= currentNormalization);
}

/**
 * Whether a stored value is the one a search asked for: both are compared in the newest
 * normalization that accepts the stored value. Normally that is the current one; a value that
 * only an older version accepts (a phone number whose superscript digit version 1 skipped)
 * keeps the index that version gave it and is compared the same way, so it stays findable as
 * it was until someone corrects it.
 */
export function sameIndexedValue(kind: BlindIndexKind, stored: string, query: string): boolean {
  for (const v of searchVersions(kind, 1)) {
    const s = tryNormalize(kind, stored, v);
    if (s !== undefined) return tryNormalize(kind, query, v) === s;
  }
  return false;
}

/** The value normalized under `version`, or undefined when that version refuses it. */
export function tryNormalize(
  kind: BlindIndexKind,
  value: string,
  version: number,
): string | undefined {
  try {
    return normalizeForIndex(kind, value, version);
  } catch (e) {
    if (isWardError(e, 'invalid_phi_value')) return undefined;
    throw e;
  }
}

/** The `name_dob` input for a last name and an ISO birth date. */
export function nameDobValue(lastName: string, dateOfBirth: string): string {
  return `${lastName}\u001f${dateOfBirth}`;
}

// ---------------------------------------------------------------------------------------------
// Version 2.

/**
 * Characters that stand for an apostrophe: typographic quotes (what word processors and phone
 * keyboards put in "O’Brien"), modifier letters (ʼ ʹ ʻ ˈ ˊ ˋ, the saltillo ꞌ), spacing accents
 * and primes (` ´ ′ ‵, the Greek ones), the Armenian and Hebrew apostrophes and the full-width
 * forms. Listed rather than taken from a Unicode category so that the index does not move with
 * the runtime's Unicode tables. ´ must be folded before NFKC, which makes it a space and a
 * combining accent.
 */
const apostropheLike =
  /[\u0060\u00B4\u02B9\u02BB\u02BC\u02BD\u02C8\u02CA\u02CB\u0374\u055A\u05F3\u1FBD\u1FBF\u1FEF\u1FFD\u2018\u2019\u201B\u2032\u2035\uA78B\uA78C\uFF07\uFF40]/gu;

/**
 * Characters that stand for a hyphen-minus: the dash punctuation of Unicode (hyphen,
 * non-breaking hyphen, figure, en and em dash, horizontal bar, the small, full-width and
 * vertical forms, the Armenian, Hebrew, Canadian and Mongolian hyphens) and the minus signs.
 * Wave dashes (〜 〰) and the katakana double hyphen are not hyphens and are left alone.
 */
const dashLike =
  /[\u058A\u05BE\u1400\u1806\u02D7\u2010-\u2015\u2043\u2212\u2E17\u2E1A\u2E3A\u2E3B\u2E40\uFE31\uFE32\uFE58\uFE63\uFF0D]/gu;

/**
 * Characters that render as nothing: zero-width space and joiners, word joiner, soft hyphen,
 * BOM, bidi marks, embeddings, overrides and isolates, variation selectors, Hangul fillers,
 * tags (Unicode's Default_Ignorable_Code_Point, whose unassigned members are reserved as such).
 */
const invisible = /\p{Default_Ignorable_Code_Point}/gu;

/** Numerals that are not decimal digits (superscripts, circled, fractions, Roman numerals). */
const nonDecimalNumeral = /[\p{No}\p{Nl}]/u;

/**
 * The text every version-2 rule starts from: invisible characters removed (before NFKC, so
 * they cannot keep a letter from composing with its accent), look-alikes folded, NFKC applied
 * (full-width and other compatibility forms become their plain letters, digits and symbols),
 * and the look-alikes NFKC produced (U+2011 → U+2010, U+0374 → U+02B9) folded too.
 */
export function canonicalText(v: string): string {
  const fold = (s: string) => s.replace(apostropheLike, "'").replace(dashLike, '-');
  return fold(fold(v.replace(invisible, '')).normalize('NFKC'));
}

/**
 * Every decimal digit (any script: full-width, Arabic-Indic, Devanagari, …) as its ASCII digit.
 * Unicode encodes each script's digits as one contiguous run from 0 to 9 (a stability
 * guarantee), so a digit's value is its distance from the start of its run, modulo 10 for the
 * runs that follow one another (the mathematical digits).
 */
export function asciiDigits(v: string): string {
  if (/^[\x20-\x7E]*$/.test(v)) return v;
  return v.replace(/\p{Nd}/gu, (d) => {
    const cp = d.codePointAt(0) ?? 0;
    let start = cp;
    while (start > 0 && /\p{Nd}/u.test(String.fromCodePoint(start - 1))) start--;
    return String((cp - start) % 10);
  });
}

/**
 * The digits-and-separators text of an SSN or phone number: numerals that are not digits are
 * refused (version 1 skipped them silently, so "555-0100²" was "555-0100"), the rest is
 * canonical text with every digit in ASCII.
 */
function digitText(kind: BlindIndexKind, v: string): string {
  if (nonDecimalNumeral.test(v)) throw invalid(kind);
  return asciiDigits(canonicalText(v));
}

/**
 * Case- and accent-folds a name (version 2): canonical text, then NFKD with combining marks
 * dropped, lower case, only letters, digits, apostrophes, hyphens and single spaces kept.
 */
export function foldName(v: string): string {
  return foldNameV1(canonicalText(v));
}

function normalizeV2(kind: BlindIndexKind, value: string): string {
  switch (kind) {
    case 'ssn': {
      const digits = digitText(kind, value).replace(/[\s-]/g, '');
      if (!/^[0-9]{9}$/.test(digits)) throw invalid(kind);
      return digits;
    }
    case 'email': {
      const email = canonicalText(value).trim().toLowerCase();
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw invalid(kind);
      return email;
    }
    case 'phone': {
      const text = digitText(kind, value);
      return toE164(text.trim().startsWith('+'), text.replace(/[^0-9]/g, ''));
    }
    case 'name': {
      const name = foldName(value);
      if (name === '') throw invalid(kind);
      return name;
    }
    case 'mrn':
      // Issued identifiers are ASCII by the schema's own check; kept exactly as issued.
      return normalizeV1(kind, value);
    case 'name_dob':
      return nameDob(value, foldName);
  }
}

// ---------------------------------------------------------------------------------------------
// Version 1, frozen: the rules indexes were computed with before migration 0023. Never edit
// them; a change of rules is a new version.

function normalizeV1(kind: BlindIndexKind, value: string): string {
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
      return toE164(value.trim().startsWith('+'), value.replace(/\D/g, ''));
    case 'name': {
      const name = foldNameV1(value);
      if (name === '') throw invalid(kind);
      return name;
    }
    case 'mrn':
      if (value === '' || value.length > 64) throw invalid(kind);
      return value;
    case 'name_dob':
      return nameDob(value, foldNameV1);
  }
}

function foldNameV1(v: string): string {
  return v
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' -]/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}

// Shared by both versions (unchanged in version 2).

/** 10-digit numbers are taken as NANP (+1); anything else needs its country code. */
function toE164(plus: boolean, digits: string): string {
  let e164: string;
  if (plus) e164 = `+${digits}`;
  else if (digits.length === 10) e164 = `+1${digits}`;
  else if (digits.length === 11 && digits.startsWith('1')) e164 = `+${digits}`;
  else throw invalid('phone');
  if (!/^\+[1-9]\d{7,14}$/.test(e164)) throw invalid('phone');
  return e164;
}

/**
 * Folded last name, a unit separator and the YYYY-MM-DD date. Exactly two parts: a separator
 * inside the last name must not let it carry a birth date of its own (the parts after the
 * second would be ignored, and match another date).
 */
function nameDob(value: string, fold: (v: string) => string): string {
  const parts = value.split('\u001f');
  const [last = '', dob = ''] = parts;
  if (parts.length !== 2 || !/^\d{4}-\d{2}-\d{2}$/.test(dob) || fold(last) === '')
    throw invalid('name_dob');
  return `${fold(last)}\u001f${dob}`;
}

function invalid(kind: BlindIndexKind): WardError {
  return new WardError('invalid_phi_value', `The ${kind} value cannot be normalized for search`, {
    kind,
  });
}
