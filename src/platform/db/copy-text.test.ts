import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CopyLineSplitter, parseCopyLine, unescapeCopyField } from './copy-text.ts';

/** What PostgreSQL's text COPY output writes for one field (CopyAttributeOutText). */
function encodeField(v: string | null): string {
  if (v === null) return '\\N';
  const named: Record<string, string> = {
    '\\': '\\\\',
    '\b': '\\b',
    '\f': '\\f',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\v': '\\v',
  };
  return v.replace(/[\\\b\f\n\r\t\v]/g, (c) => named[c] ?? c);
}

const hostile = fc
  .array(
    fc.oneof(
      fc.constantFrom('\\', '\t', '\n', '\r', '\b', '\f', '\v', '\\N', 'N', '\u0001', 'ü', '😀'),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

describe('COPY text format', () => {
  test('decoding inverts the server encoding, for any fields and any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.option(hostile, { nil: null }), { minLength: 1, maxLength: 5 }), {
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }),
        (rows, cuts) => {
          const bytes = Buffer.from(
            rows.map((r) => `${r.map(encodeField).join('\t')}\n`).join(''),
            'utf8',
          );
          const got: (string | null)[][] = [];
          const split = new CopyLineSplitter((line) => got.push(parseCopyLine(Buffer.from(line))));
          // Cut the stream at arbitrary byte offsets, through multi-byte characters too.
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length] as number;
            split.push(bytes.subarray(at, at + n));
            at += n;
          }
          split.end();
          assert.deepEqual(got, rows);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('an escape the server never writes is refused, not guessed', () => {
    assert.throws(() => unescapeCopyField('a\\x41'), /unexpected escape/);
    assert.throws(() => unescapeCopyField('a\\101'), /unexpected escape/);
    assert.throws(() => unescapeCopyField('trailing\\'), /unexpected escape/);
    assert.equal(unescapeCopyField('a\\\\N'), 'a\\N');
    assert.deepEqual(parseCopyLine('\\N\t\\\\N\t'), [null, '\\N', '']);
  });

  test('a stream that stops inside a row is an error', () => {
    const split = new CopyLineSplitter(() => undefined);
    split.push(Buffer.from('1\t2\n3\t'));
    assert.throws(() => split.end(), /middle of a row/);
  });
});
