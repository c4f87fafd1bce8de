import { WardError } from '../errors.ts';

/**
 * The deepest JSON nesting (objects and arrays together) a request body may have. Ward's
 * deepest legitimate bodies (access-policy documents, clinical JSON) stay well under 10;
 * 32 leaves room and keeps every recursive walk after parsing (schema validation,
 * serialization, encryption) far from the stack limit.
 */
export const maxJsonDepth = 32;

/** Why a syntactically plausible body is refused; `undefined` when it is acceptable. */
export type JsonRefusal = 'too_deep' | 'duplicate_key' | 'nul' | 'proto_key' | 'constructor_key';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const ZERO = 0x30;
const U = 0x75;

/**
 * One pass over raw JSON text, before it is parsed, finding what JSON.parse accepts but Ward
 * must not: nesting deeper than `maxDepth` (found before any recursion can run out of stack),
 * a key repeated in one object (JSON.parse silently keeps the last — two readers of the same
 * body could see different values), a `\u0000` escape (PostgreSQL refuses NUL in text and
 * jsonb, and it has no business in health data), and the prototype-poisoning keys
 * (`__proto__`, or `constructor` holding `prototype`, as secure-json-parse refuses them).
 *
 * It tracks only string state, depth and each open object's keys; the rest of the grammar is
 * left to JSON.parse (which also refuses raw control characters, NUL among them). For valid JSON its verdict is exact (keys are compared after unescaping,
 * so `"a"` and `"\u0061"` collide; `\\u0000` is an escaped backslash, not NUL). For invalid
 * JSON it may return anything: the caller must still parse.
 */
export function scanJson(text: string, maxDepth = maxJsonDepth): JsonRefusal | undefined {
  const n = text.length;
  // Per open container, by depth: is it an object, where its keys start in `keys` (a stack of
  // the open objects' keys), a Set of them once it has many, is it `constructor`'s value.
  const isObject: boolean[] = [];
  const keys: string[] = [];
  const keyStart: number[] = [];
  const keySets: (Set<string> | undefined)[] = [];
  const isCtor: boolean[] = [];
  let depth = 0;
  let expectKey = false;
  let lastKey: string | undefined;
  let nextBackslash = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      let escaped = false;
      // String content is skipped with indexOf; only a string holding a backslash is walked.
      if (nextBackslash !== -1 && nextBackslash < start) nextBackslash = text.indexOf('\\', start);
      let close = text.indexOf('"', start);
      if (close === -1) close = n;
      if (nextBackslash === -1 || nextBackslash > close) {
        i = close;
      } else {
        escaped = true;
        for (i = start; i < n; i++) {
          const s = text.charCodeAt(i);
          if (s === QUOTE) break;
          if (s === BACKSLASH) {
            i++;
            if (
              text.charCodeAt(i) === U &&
              text.charCodeAt(i + 1) === ZERO &&
              text.charCodeAt(i + 2) === ZERO &&
              text.charCodeAt(i + 3) === ZERO &&
              text.charCodeAt(i + 4) === ZERO
            ) {
              return 'nul';
            }
          }
        }
      }
      if (expectKey && depth > 0) {
        expectKey = false;
        const key = escaped ? unescapeKey(text, start, i) : text.slice(start, i);
        if (key === '__proto__') return 'proto_key';
        if (key === 'prototype' && isCtor[depth - 1] === true) return 'constructor_key';
        lastKey = key;
        const d = depth - 1;
        const set = keySets[d];
        if (set !== undefined) {
          if (set.has(key)) return 'duplicate_key';
          set.add(key);
        } else {
          // Small objects (nearly all) are searched linearly: cheaper than building a Set.
          const from = keyStart[d] ?? 0;
          for (let k = from; k < keys.length; k++) if (keys[k] === key) return 'duplicate_key';
          keys.push(key);
          if (keys.length - from > 16) keySets[d] = new Set(keys.slice(from));
        }
      }
    } else if (c === LBRACE || c === LBRACKET) {
      const d = depth;
      if (++depth > maxDepth) return 'too_deep';
      isCtor[d] = c === LBRACE && d > 0 && isObject[d - 1] === true && lastKey === 'constructor';
      isObject[d] = c === LBRACE;
      keyStart[d] = keys.length;
      keySets[d] = undefined;
      expectKey = c === LBRACE;
      lastKey = undefined;
    } else if (c === RBRACE || c === RBRACKET) {
      if (depth > 0) {
        depth--;
        if (isObject[depth] === true) keys.length = keyStart[depth] ?? 0;
      }
      expectKey = false;
      lastKey = undefined;
    } else if (c === COMMA) {
      expectKey = depth > 0 && isObject[depth - 1] === true;
      lastKey = undefined;
    }
  }
  return undefined;
}

/** A key with escapes, decoded as JSON.parse would (invalid escapes fail the parse later). */
function unescapeKey(text: string, start: number, end: number): string {
  try {
    return JSON.parse(text.slice(start - 1, end + 1)) as string;
  } catch {
    return text.slice(start, end);
  }
}

const refusalDetail: Record<JsonRefusal, string> = {
  too_deep: `The body is nested deeper than ${maxJsonDepth} levels`,
  duplicate_key: 'The body repeats a key within one object',
  nul: 'The body contains a NUL character (\\u0000)',
  proto_key: 'The body contains a forbidden key',
  constructor_key: 'The body contains a forbidden key',
};

/**
 * Parses a JSON request body under Ward's rules: scanned first (scanJson), then JSON.parse.
 * Too deep is refused before parsing; text that is not JSON is a 400 `bad_request`; JSON that
 * breaks a rule is a 400 `validation_failed` whose detail names the rule, never a key or value.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new WardError('bad_request', 'The body is not valid JSON');
  const refusal = scanJson(text);
  if (refusal === 'too_deep') throw new WardError('validation_failed', refusalDetail.too_deep);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WardError('bad_request', 'The body is not valid JSON');
  }
  if (refusal !== undefined) throw new WardError('validation_failed', refusalDetail[refusal]);
  // Two more things JSON.parse turns silently into something else: a number too large for a
  // double becomes Infinity (which JSON.stringify then writes as null), and an unpaired
  // surrogate escape becomes a string no UTF-8 text can hold (stored as U+FFFD). Both can only
  // come from text shaped like them, so the walk runs only for such bodies.
  // A double overflows only past 1.8e308: with an exponent under 100 that takes a mantissa of
  // over 200 digits, so an exponent of three digits or a run of 17 digits finds every case.
  const numbers = /[eE]\+?\d{3}|\d{17}/.test(text);
  const surrogates = /\\u[dD][89a-fA-F]/.test(text);
  if (numbers || surrogates) {
    const problem = checkValues(value, numbers, surrogates);
    if (problem) throw new WardError('validation_failed', problem);
  }
  return value;
}

/** True when `s` has no unpaired surrogate (String.prototype.isWellFormed, ES2024). */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Walks a parsed value (without recursion) for non-finite numbers or ill-formed strings. */
function checkValues(root: unknown, numbers: boolean, surrogates: boolean): string | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (numbers && !Number.isFinite(v)) return 'The body holds a number too large to represent';
    } else if (typeof v === 'string') {
      if (surrogates && !wellFormed(v)) return 'The body holds an unpaired surrogate escape';
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) stack.push(k, x);
    }
  }
  return undefined;
}
