import { WardError } from '../../../platform/errors.ts';

/** One code of a release as it is stored: dotted code, description, billable flag. */
export interface Icd10Entry {
  readonly code: string;
  readonly description: string;
  readonly billable: boolean;
}

/** The two release files CMS publishes (and CDC mirrors) with every ICD-10-CM release. */
export type Icd10FileFormat = 'order' | 'codes';

const rawCode = /^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$/;
const maxDescription = 400;

/** Inserts the dot after the category (third character): `E119` → `E11.9`, `I10` → `I10`. */
export function dottedCode(raw: string): string {
  return raw.length > 3 ? `${raw.slice(0, 3)}.${raw.slice(3)}` : raw;
}

/** Recognizes the format from the first non-blank line: order files start with a 5-digit number. */
export function detectFormat(text: string): Icd10FileFormat {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return /^\d{5} /.test(first) ? 'order' : 'codes';
}

/**
 * Characters no description may hold: C0 and C1 controls (NUL, BEL, ESC of ANSI escapes, a
 * stray CR), DEL, and the invisible format characters that reorder or hide text on screen
 * (bidi embeddings, overrides and isolates, zero-width characters, the BOM). CMS files are
 * plain ASCII; one of these is a corrupt file or a planted payload for whoever displays it.
 */
const forbiddenCharacter =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/u;

/** `U+001B` for a character, as a refusal names it (never the line's text). */
function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

function malformed(line: number, what: string): WardError {
  return new WardError('validation_failed', `Line ${line}: ${what}; nothing was imported`, {
    line,
  });
}

/**
 * Parses a CMS "order" file line (fixed width): order number (1-5), code without dot (7-13),
 * 0 for a header / 1 for a billable code (15), short description (17-76), long description
 * (78-). The long description is the one kept.
 */
function parseOrderLine(l: string, n: number): Icd10Entry {
  if (!/^\d{5} $/.test(l.slice(0, 6))) throw malformed(n, 'expected a 5-digit order number');
  const code = l.slice(6, 13).trimEnd();
  if (!rawCode.test(code)) throw malformed(n, 'the code is not an ICD-10-CM code');
  if (l[13] !== ' ' || l[15] !== ' ') throw malformed(n, 'the fixed-width columns do not line up');
  const flag = l[14];
  if (flag !== '0' && flag !== '1') throw malformed(n, 'the header flag must be 0 or 1');
  const long = l.slice(77).trim();
  if (long === '') throw malformed(n, 'the long description is missing');
  return { code: dottedCode(code), description: long, billable: flag === '1' };
}

/** Parses a CMS "codes" file line: code without dot, spaces, description (billable codes only). */
function parseCodesLine(l: string, n: number): Icd10Entry {
  const m = /^(\S+)\s+(\S.*)$/.exec(l);
  if (!m?.[1] || !m[2]) throw malformed(n, 'expected a code, spaces and a description');
  if (!rawCode.test(m[1])) throw malformed(n, 'the code is not an ICD-10-CM code');
  return { code: dottedCode(m[1]), description: m[2].trim(), billable: true };
}

/**
 * Parses a whole release file. All or nothing: the first malformed line (bad code, broken
 * columns, missing or over-long description, a code given twice) throws `validation_failed`
 * naming its line number. Blank lines are skipped; CRLF line ends are accepted.
 */
export function parseIcd10File(
  text: string,
  format: Icd10FileFormat = detectFormat(text),
): Icd10Entry[] {
  const out: Icd10Entry[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '').trimEnd();
    if (line.trim() === '') continue;
    const n = i + 1;
    // A tab may separate a codes-file code from its description; no other control may appear.
    const bad = forbiddenCharacter.exec(line);
    if (bad)
      throw malformed(n, `the line holds a control or invisible character (${codePoint(bad[0])})`);
    const entry = format === 'order' ? parseOrderLine(line, n) : parseCodesLine(line, n);
    if (entry.description.includes('\t'))
      throw malformed(n, 'the description holds a control or invisible character (U+0009)');
    if (entry.description.length > maxDescription)
      throw malformed(n, `the description is longer than ${maxDescription} characters`);
    const before = seen.get(entry.code);
    if (before !== undefined)
      throw malformed(n, `code ${entry.code} was already given on line ${before}`);
    seen.set(entry.code, n);
    out.push(entry);
  }
  if (out.length === 0)
    throw new WardError(
      'validation_failed',
      'The file holds no ICD-10-CM codes; nothing was imported',
    );
  return out;
}
