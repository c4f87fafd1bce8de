import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { maxJsonDepth, parseJsonBody, scanJson, type JsonRefusal } from './json-body.ts';

/** What the scanner should find in a parsed value, by walking it (the reference verdict). */
function problemsOf(value: unknown, depth = 0, out = new Set<JsonRefusal>()): Set<JsonRefusal> {
  if (typeof value === 'string') {
    if (value.includes('\0')) out.add('nul');
  } else if (Array.isArray(value)) {
    if (depth + 1 > maxJsonDepth) out.add('too_deep');
    for (const v of value) problemsOf(v, depth + 1, out);
  } else if (value !== null && typeof value === 'object') {
    if (depth + 1 > maxJsonDepth) out.add('too_deep');
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\0')) out.add('nul');
      if (k === '__proto__') out.add('proto_key');
      if (
        k === 'constructor' &&
        v !== null &&
        typeof v === 'object' &&
        Object.prototype.hasOwnProperty.call(v, 'prototype')
      ) {
        out.add('constructor_key');
      }
      problemsOf(v, depth + 1, out);
    }
  }
  return out;
}

// Keys and strings from a small alphabet, so that collisions, escapes and NUL all occur often.
const text = fc.string({
  unit: fc.constantFrom('a', 'b', '"', '\\', '\0', '\u00e9', '\uD83D\uDE00', ' ', '{', ']', ':'),
  maxLength: 4,
});
const key = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'prototype', 'mrn', 'a'));
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    text,
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(key, tie('json'), { maxKeys: 4 }),
  ),
}));

/** Wraps `v` in `n` arrays. */
const nest = (v: unknown, n: number): unknown => (n === 0 ? v : [nest(v, n - 1)]);

test('valid JSON: accepted exactly when nothing is wrong, and parsed as JSON.parse parses it', () => {
  fc.assert(
    fc.property(json, fc.integer({ min: 0, max: 40 }), fc.boolean(), (v, extra, pretty) => {
      const value = nest(v, extra);
      const body = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
      const expected = problemsOf(JSON.parse(body));
      const verdict = scanJson(body);
      if (expected.size === 0) {
        assert.equal(verdict, undefined, body);
        assert.deepEqual(parseJsonBody(body), JSON.parse(body));
      } else {
        assert.ok(verdict !== undefined && expected.has(verdict), `${verdict} for ${body}`);
        assert.throws(() => parseJsonBody(body), { code: 'validation_failed' });
      }
    }),
    { numRuns: 3000 },
  );
});

/** Serializes `value`, writing one key of the `target`-th object (in text order) twice. */
function withDuplicate(value: unknown, target: number, escapeIt: boolean): string | undefined {
  let seen = 0;
  let done = false;
  const enc = (k: string) =>
    escapeIt && k.length > 0
      ? `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k.slice(1)).slice(1)}`
      : JSON.stringify(k);
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    const entries = Object.entries(v);
    const parts = entries.map(([k, x]) => `${JSON.stringify(k)}:${write(x)}`);
    if (!done && entries.length > 0 && seen++ === target) {
      done = true;
      const [k] = entries[entries.length - 1]!;
      parts.push(`${enc(k)}:"dup"`);
    }
    return `{${parts.join(',')}}`;
  };
  const out = write(value);
  return done ? out : undefined;
}

test('a key repeated in any object, however spelled, is refused though JSON.parse accepts it', () => {
  fc.assert(
    fc.property(json, fc.nat(5), fc.boolean(), (v, target, escapeIt) => {
      const body = withDuplicate(v, target, escapeIt);
      fc.pre(body !== undefined);
      // Nothing else wrong (checked on the text without the repeat: a repeat can hide a value).
      fc.pre(problemsOf(v).size === 0 && scanJson(JSON.stringify(v)) === undefined);
      JSON.parse(body);
      assert.equal(scanJson(body), 'duplicate_key', body);
      assert.throws(() => parseJsonBody(body), { code: 'validation_failed' });
    }),
    { numRuns: 3000 },
  );
});

test('the reviewed cases', () => {
  const patient = '{"mrn":"A","firstName":"B","mrn":"dup"}';
  assert.equal(scanJson(patient), 'duplicate_key');
  assert.equal(scanJson('{"a":1,"\\u0061":2}'), 'duplicate_key');
  assert.equal(scanJson('{"a":{"a":1},"b":{"a":1}}'), undefined, 'same key in sibling objects');
  assert.equal(scanJson('[{"a":1},{"a":1}]'), undefined);
  assert.equal(scanJson('{"a":["a","a"],"b":"a"}'), undefined, 'values are not keys');
  assert.equal(scanJson('{"a":{"b":1,"c":2,"d":3},"b":1,"a":0}'), 'duplicate_key');

  const many = Array.from({ length: 40 }, (_, i) => `"k${i}":{"k${i}":1}`).join(',');
  assert.equal(scanJson(`{${many}}`), undefined, 'a large object, keys reused one level down');
  assert.equal(scanJson(`{${many},"k39":2}`), 'duplicate_key');
  assert.equal(scanJson(`{${many},"k3":2}`), 'duplicate_key');
  assert.equal(scanJson(`{"a":{${many}},"a":1}`), 'duplicate_key');

  assert.equal(scanJson('{"x":"\\u0000"}'), 'nul');
  assert.equal(scanJson('{"x\\u0000":1}'), 'nul');
  assert.equal(scanJson('["a\\\\\\u0000"]'), 'nul', 'escaped backslash, then NUL');
  // An escaped backslash followed by the text u0000 is not NUL.
  assert.equal(scanJson('{"x":"\\\\u0000"}'), undefined);
  assert.deepEqual(parseJsonBody('{"x":"\\\\u0000"}'), { x: '\\u0000' });
  assert.equal(scanJson('{"x":"\\u00000"}'), 'nul');
  assert.equal(scanJson('{"x":"\\u0001"}'), undefined);

  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  assert.equal(scanJson(deep(maxJsonDepth)), undefined);
  assert.equal(scanJson(deep(maxJsonDepth + 1)), 'too_deep');
  assert.equal(scanJson(`{"allergies":${deep(5000)}}`), 'too_deep');
  assert.equal(scanJson(`{"a":"${'['.repeat(100)}"}`), undefined, 'brackets in strings');
  assert.throws(() => parseJsonBody(deep(1_000_000)), { code: 'validation_failed' });

  assert.equal(scanJson('{"__proto__":{"x":1}}'), 'proto_key');
  assert.equal(scanJson('{"a":[{"\\u005f_proto__":1}]}'), 'proto_key');
  assert.equal(scanJson('{"constructor":{"prototype":{}}}'), 'constructor_key');
  assert.equal(scanJson('{"constructor":1,"prototype":{}}'), undefined);
  assert.equal(scanJson('{"constructor":{"x":{"prototype":1}}}'), undefined);
});

test('malformed text is a bad_request; the scanner never throws on arbitrary input', () => {
  for (const body of ['', '{', '{"a":', '[1,2', '{"a" 1}', 'nul', '"\\u00']) {
    assert.throws(() => parseJsonBody(body), { code: 'bad_request' }, body);
  }
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', '\\', ',', ':', 'u', '0', 'a') }),
      (s) => {
        scanJson(s);
        try {
          parseJsonBody(s);
        } catch (e) {
          assert.ok(
            (e as { code?: string }).code === 'bad_request' ||
              (e as { code?: string }).code === 'validation_failed',
          );
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test('numbers beyond a double and unpaired surrogate escapes are refused, not rewritten', () => {
  const refused = (text: string) =>
    assert.throws(() => parseJsonBody(text), { code: 'validation_failed' }, text);
  refused('{"vitals":{"x":1e400}}');
  refused('[-1E+309]');
  refused(`{"n":${'9'.repeat(400)}}`);
  refused(`{"a":1${'0'.repeat(250)}e99}`);
  refused(`{"a":${'9'.repeat(20)}.5e300}`);
  refused('{"name":"\\ud800"}');
  refused('{"name":"x\\udc00y"}');
  refused('{"\\udbff":1}');
  // Shaped alike but fine: large-but-finite numbers, paired surrogates, an escaped backslash.
  assert.deepEqual(parseJsonBody('{"x":1e300,"y":1E-400}'), { x: 1e300, y: 0 });
  assert.deepEqual(parseJsonBody('{"s":"\\ud83e\\ude7a"}'), { s: '🩺' });
  assert.deepEqual(parseJsonBody('{"s":"\\\\ud800"}'), { s: '\\ud800' });
  assert.deepEqual(parseJsonBody('{"s":"1e400"}'), { s: '1e400' });
});
