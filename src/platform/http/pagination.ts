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

/** Bytes in front of a cursor's ciphertext: the key version (uint32) and the AES-CTR IV. */
const versionLength = 4;
const ivLength = 16;

/**
 * One version of the key cursors are signed and encrypted with, as the server holds it.
 * `activeFrom` and `acceptedUntil` are epoch milliseconds.
 */
export interface CursorKeyVersion {
  /** 1 and up for stored keys (ward.cursor_keys); 0 for a configured or per-process key. */
  readonly version: number;
  readonly key: Buffer;
  /** New cursors are encoded with the newest version whose activation has come. */
  readonly activeFrom: number;
  /** Cursors of this version are invalid_cursor from then on (undefined: no end yet). */
  readonly acceptedUntil?: number | undefined;
}

interface DerivedKeys {
  readonly version: number;
  readonly mac: Buffer;
  readonly encryption: Buffer;
  readonly activeFrom: number;
  readonly acceptedUntil: number | undefined;
}

// Cursors are signed with a server key, so a client can only hand back positions the server
// produced: an edited, truncated or minted cursor never reaches SQL. `ward serve` installs the
// stored, KEK-wrapped key versions (src/modules/crypto/cursor-keys.ts) or WARD_CURSOR_KEY;
// until then (tests, tools that build the app themselves) a random per-process key signs.
let cursorKeys: readonly DerivedKeys[] = [
  derive({ version: 0, key: randomBytes(32), activeFrom: 0 }),
];

/** The MAC and encryption keys of one version, derived once when the version is installed. */
function derive(k: CursorKeyVersion): DerivedKeys {
  if (k.key.length < 32)
    throw new WardError('config_invalid', 'The cursor key must be 32 bytes or more');
  if (!Number.isInteger(k.version) || k.version < 0 || k.version > 0xffff_ffff)
    throw new WardError('config_invalid', 'A cursor key version is a 32-bit unsigned integer');
  return {
    version: k.version,
    mac: createHmac('sha256', k.key).update('ward.cursor.v3.mac').digest(),
    encryption: createHmac('sha256', k.key).update('ward.cursor.v3.encryption').digest(),
    activeFrom: k.activeFrom,
    acceptedUntil: k.acceptedUntil,
  };
}

/**
 * Installs the key versions cursors are made and checked with, replacing the previous set:
 * new cursors use the newest version whose `activeFrom` has come; a cursor is accepted while
 * its version is installed and its `acceptedUntil` has not passed.
 */
export function useCursorKeys(keys: readonly CursorKeyVersion[]): void {
  if (keys.length === 0) throw new WardError('config_invalid', 'No cursor key to install');
  const next = keys.map(derive).sort((a, b) => a.version - b.version);
  const old = cursorKeys;
  cursorKeys = next;
  // Encoding and decoding are synchronous, so no caller still holds the keys replaced here.
  for (const k of old) {
    k.mac.fill(0);
    k.encryption.fill(0);
  }
}

/** Sets one key for all cursors (WARD_CURSOR_KEY): version 0, always active, never expiring. */
export function useCursorKey(key: Buffer): void {
  useCursorKeys([{ version: 0, key, activeFrom: 0 }]);
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

/** The version new cursors are made with: the newest one already active (else the oldest). */
function currentKeys(now: number): DerivedKeys {
  let current: DerivedKeys | undefined;
  for (const k of cursorKeys) if (k.activeFrom <= now) current = k;
  return current ?? (cursorKeys[0] as DerivedKeys);
}

function mac(keys: DerivedKeys, scope: string, body: string): string {
  return createHmac('sha256', keys.mac)
    .update(`ward.cursor.v3\n${scope}\n${body}`)
    .digest('base64url')
    .slice(0, macLength);
}

/**
 * Encodes a sort key as an opaque base64url cursor bound to `scope` (the list's name). The
 * sort key is encrypted (AES-256-CTR, random IV) and then MACed, both under keys derived from
 * the current cursor key version, which the cursor names in clear so that it can be checked
 * after a rotation: a list that withholds rows the caller may not see pages on past them, so
 * the last row scanned — whose id and creation time the cursor holds — may be one the caller
 * must not learn about.
 */
export function encodeCursor(scope: string, key: CursorKey): string {
  const keys = currentKeys(Date.now());
  const head = Buffer.alloc(versionLength + ivLength);
  head.writeUInt32BE(keys.version, 0);
  const iv = randomBytes(ivLength);
  iv.copy(head, versionLength);
  const cipher = createCipheriv('aes-256-ctr', keys.encryption, iv);
  const sealed = Buffer.concat([head, cipher.update(JSON.stringify(key), 'utf8'), cipher.final()]);
  const body = sealed.toString('base64url');
  return body + mac(keys, scope, body);
}

/**
 * Decodes a cursor made by `encodeCursor` for the same list; undefined when absent. A cursor
 * from another list, edited, minted without the key, under a key version this server does not
 * hold or no longer accepts, or malformed is a 400 `invalid_cursor`.
 */
export function decodeCursor(
  scope: string,
  cursor: string | undefined,
  arity: number,
): CursorKey | undefined {
  if (cursor === undefined) return undefined;
  // The MAC is the fixed-length tail, so no separator is needed.
  const body = cursor.slice(0, -macLength);
  const sealed = Buffer.from(body, 'base64url');
  if (sealed.length < versionLength + ivLength) throw new WardError('invalid_cursor');
  const version = sealed.readUInt32BE(0);
  const keys = cursorKeys.find((k) => k.version === version);
  if (!keys || (keys.acceptedUntil !== undefined && keys.acceptedUntil <= Date.now())) {
    throw new WardError('invalid_cursor');
  }
  const given = Buffer.from(cursor.slice(-macLength));
  const expected = Buffer.from(mac(keys, scope, body));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WardError('invalid_cursor');
  }
  let key: unknown;
  try {
    const decipher = createDecipheriv(
      'aes-256-ctr',
      keys.encryption,
      sealed.subarray(versionLength, versionLength + ivLength),
    );
    const text = Buffer.concat([
      decipher.update(sealed.subarray(versionLength + ivLength)),
      decipher.final(),
    ]);
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
