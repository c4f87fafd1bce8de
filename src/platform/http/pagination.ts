import { createHash } from 'node:crypto';
import { WardError } from '../errors.ts';
import { nullableString } from './schemas.ts';

/** One page of a list and the cursor of the next (null on the last page). */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/** The position after which a page starts: the sort key of the last row seen. */
export type CursorKey = readonly string[];

/** `?cursor=…&limit=…` as a list route receives it. */
export interface PageQuery {
  readonly cursor?: string;
  /** Query strings are not coerced (Ajv `coerceTypes: false`), so this is digits as text. */
  readonly limit?: string;
}

export const defaultPageLimit = 50;
export const maxPageLimit = 200;

/** Querystring properties every paginated list accepts (spread into its querystring schema). */
export const pageQueryProperties = {
  cursor: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$' },
  limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
} as const;

/** The response schema of a paginated list of `item`. */
export function pageSchema(item: unknown) {
  return {
    type: 'object',
    properties: { items: { type: 'array', items: item }, nextCursor: nullableString },
    required: ['items', 'nextCursor'],
    additionalProperties: false,
  } as const;
}

// A short digest binds the cursor to its list and catches edits and truncation. It is not a
// secret MAC: a forged cursor only moves the starting position within rows that RLS already
// lets the caller read, so integrity, not secrecy, is what matters — and it survives restarts.
function check(scope: string, body: string): string {
  return createHash('sha256').update(`${scope}\n${body}`).digest('base64url').slice(0, 12);
}

/** Encodes a sort key as an opaque base64url cursor bound to `scope` (the list's name). */
export function encodeCursor(scope: string, key: CursorKey): string {
  const body = Buffer.from(JSON.stringify(key)).toString('base64url');
  return body + check(scope, body);
}

/**
 * Decodes a cursor made by `encodeCursor` for the same list; undefined when absent. A cursor
 * from another list, edited or malformed is a 400 `invalid_cursor`.
 */
export function decodeCursor(
  scope: string,
  cursor: string | undefined,
  arity: number,
): CursorKey | undefined {
  if (cursor === undefined) return undefined;
  // The last 12 characters are the check digest (fixed length, so no separator is needed).
  const body = cursor.slice(0, -12);
  if (body.length === 0 || cursor.slice(-12) !== check(scope, body)) {
    throw new WardError('invalid_cursor');
  }
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new WardError('invalid_cursor');
  }
  if (!Array.isArray(key) || key.length !== arity || !key.every((k) => typeof k === 'string')) {
    throw new WardError('invalid_cursor');
  }
  return key;
}

/**
 * The keyset condition for lists ordered `created_at desc, id desc`: `$n` is the cursor's
 * timestamp (as PostgreSQL printed it, so no precision is lost) and `$n+1` its id.
 */
export function newestFirstAfter(n: number): string {
  return `($${n}::timestamptz is null or (created_at, id) < ($${n}::timestamptz, $${n + 1}::uuid))`;
}

/** The effective page size: the requested limit (1…200, else a 400), or the default. */
export function pageLimit(q: PageQuery): number {
  if (q.limit === undefined) return defaultPageLimit;
  const n = Number(q.limit);
  if (!Number.isInteger(n) || n < 1 || n > maxPageLimit) {
    throw new WardError('validation_failed', `limit must be an integer from 1 to ${maxPageLimit}`);
  }
  return n;
}

/**
 * Builds a page from rows fetched with `limit + 1` (the extra row only says that more
 * exist): maps the first `limit` rows and makes the cursor from the last one's sort key.
 */
export function toPage<R, T>(
  rows: readonly R[],
  limit: number,
  scope: string,
  keyOf: (row: R) => CursorKey,
  map: (row: R) => T,
): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return {
    items: shown.map(map),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(scope, keyOf(last)) : null,
  };
}
