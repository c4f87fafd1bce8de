import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
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
  // No pattern: whatever is not a cursor this list issued is `invalid_cursor` (decodeCursor),
  // not a schema `validation_failed`, so clients have one code to handle.
  cursor: { type: 'string', minLength: 1, maxLength: 1024 },
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

/** Characters of MAC at the end of every cursor (base64url of 96 bits). */
const macLength = 16;

// Cursors are signed with a server key, so a client can only hand back positions the server
// produced: an edited, truncated or minted cursor never reaches SQL. Set it with
// useCursorKey (`ward serve` passes WARD_CURSOR_KEY); without one, a random per-process key
// signs, and cursors then do not survive a restart or cross replicas (a client that presents
// one gets invalid_cursor and starts the list again).
let cursorKey: Buffer = randomBytes(32);
let cursorEncryptionKey: Buffer = deriveEncryptionKey(cursorKey);

/** Sets the key cursors are signed with; all replicas behind one load balancer share it. */
export function useCursorKey(key: Buffer): void {
  if (key.length < 32)
    throw new WardError('config_invalid', 'The cursor key must be 32 bytes or more');
  cursorKey = Buffer.from(key);
  cursorEncryptionKey = deriveEncryptionKey(cursorKey);
}

/** Reads WARD_CURSOR_KEY (base64, 32 bytes or more); undefined when unset. */
export function cursorKeyFromEnv(env: NodeJS.ProcessEnv): Buffer | undefined {
  const raw = env['WARD_CURSOR_KEY'];
  if (raw === undefined || raw.trim() === '') return undefined;
  const key = Buffer.from(raw.trim(), 'base64');
  if (key.length < 32) {
    throw new WardError('config_invalid', 'WARD_CURSOR_KEY must be base64 of 32 bytes or more');
  }
  return key;
}

function mac(scope: string, body: string): string {
  return createHmac('sha256', cursorKey)
    .update(`ward.cursor.v2\n${scope}\n${body}`)
    .digest('base64url')
    .slice(0, macLength);
}

/** The AES-256 key that hides a cursor's sort key, derived once per cursor key. */
function deriveEncryptionKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update('ward.cursor.v2.encryption').digest();
}

const ivLength = 16;

/**
 * Encodes a sort key as an opaque base64url cursor bound to `scope` (the list's name). The
 * sort key is encrypted (AES-256-CTR, random IV) and then MACed: a list that withholds rows
 * the caller may not see pages on past them, so the last row scanned — whose id and creation
 * time the cursor holds — may be one the caller must not learn about.
 */
export function encodeCursor(scope: string, key: CursorKey): string {
  const iv = randomBytes(ivLength);
  const cipher = createCipheriv('aes-256-ctr', cursorEncryptionKey, iv);
  const sealed = Buffer.concat([iv, cipher.update(JSON.stringify(key), 'utf8'), cipher.final()]);
  const body = sealed.toString('base64url');
  return body + mac(scope, body);
}

/**
 * Decodes a cursor made by `encodeCursor` for the same list; undefined when absent. A cursor
 * from another list, edited, minted without the key or malformed is a 400 `invalid_cursor`.
 */
export function decodeCursor(
  scope: string,
  cursor: string | undefined,
  arity: number,
): CursorKey | undefined {
  if (cursor === undefined) return undefined;
  // The MAC is the fixed-length tail, so no separator is needed.
  const body = cursor.slice(0, -macLength);
  const given = Buffer.from(cursor.slice(-macLength));
  const expected = Buffer.from(body.length > 0 ? mac(scope, body) : '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WardError('invalid_cursor');
  }
  let key: unknown;
  try {
    const sealed = Buffer.from(body, 'base64url');
    const decipher = createDecipheriv(
      'aes-256-ctr',
      cursorEncryptionKey,
      sealed.subarray(0, ivLength),
    );
    const text = Buffer.concat([decipher.update(sealed.subarray(ivLength)), decipher.final()]);
    key = JSON.parse(text.toString('utf8'));
  } catch {
    throw new WardError('invalid_cursor');
  }
  if (
    !Array.isArray(key) ||
    key.length !== arity ||
    !key.every((k) => typeof k === 'string' && !k.includes('\0'))
  ) {
    throw new WardError('invalid_cursor');
  }
  return key as string[];
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
