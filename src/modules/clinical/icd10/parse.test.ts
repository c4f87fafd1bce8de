import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWardError } from '../../../platform/errors.ts';
import { detectFormat, dottedCode, parseIcd10File } from './parse.ts';

/** One fixed-width line of a CMS order file. */
function orderLine(n: number, code: string, flag: string, short: string, long: string): string {
  return `${String(n).padStart(5, '0')} ${code.padEnd(7)} ${flag} ${short.padEnd(60)} ${long}`;
}

function lineOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (isWardError(e, 'validation_failed')) return e.meta['line'] as number | undefined;
    throw e;
  }
  return undefined;
}

describe('ICD-10-CM release parsing', () => {
  test('puts the dot after the category', () => {
    assert.equal(dottedCode('E119'), 'E11.9');
    assert.equal(dottedCode('S52501A'), 'S52.501A');
    assert.equal(dottedCode('I10'), 'I10');
  });

  test('reads the order file: long description, header flag as billable', () => {
    const text = [
      orderLine(1, 'A00', '0', 'Cholera', 'Cholera'),
      orderLine(
        2,
        'A000',
        '1',
        'Cholera due to V cholerae',
        'Cholera due to Vibrio cholerae 01, biovar cholerae',
      ),
      '',
    ].join('\r\n');
    assert.equal(detectFormat(text), 'order');
    assert.deepEqual(parseIcd10File(text), [
      { code: 'A00', description: 'Cholera', billable: false },
      {
        code: 'A00.0',
        description: 'Cholera due to Vibrio cholerae 01, biovar cholerae',
        billable: true,
      },
    ]);
  });

  test('reads the codes file: every code billable', () => {
    const text =
      'A000    Cholera due to Vibrio cholerae 01, biovar cholerae\nZ23     Encounter for immunization\n';
    assert.equal(detectFormat(text), 'codes');
    assert.deepEqual(parseIcd10File(text), [
      {
        code: 'A00.0',
        description: 'Cholera due to Vibrio cholerae 01, biovar cholerae',
        billable: true,
      },
      { code: 'Z23', description: 'Encounter for immunization', billable: true },
    ]);
  });

  test('names the first malformed line', () => {
    const good = orderLine(1, 'A00', '0', 'Cholera', 'Cholera');
    assert.equal(
      lineOf(() => parseIcd10File([good, '', orderLine(3, 'A00X!', '1', 'x', 'y')].join('\n'))),
      3,
    );
    assert.equal(
      lineOf(() => parseIcd10File([good, orderLine(2, 'A001', '7', 'x', 'y')].join('\n'), 'order')),
      2,
    );
    assert.equal(
      lineOf(() => parseIcd10File([good, orderLine(2, 'A001', '1', 'x', '')].join('\n'), 'order')),
      2,
    );
    assert.equal(
      lineOf(() => parseIcd10File([good, 'not an order line'].join('\n'), 'order')),
      2,
    );
    assert.equal(
      lineOf(() => parseIcd10File([good, good.replace('00001', '00002')].join('\n'))),
      2,
    );
    assert.equal(
      lineOf(() => parseIcd10File('A000 Cholera\ne119 lower case\n')),
      2,
    );
    assert.equal(
      lineOf(() => parseIcd10File(`A000 ${'x'.repeat(401)}\n`)),
      1,
    );
    assert.equal(
      lineOf(() => parseIcd10File('A000\n')),
      1,
    );
  });

  test('refuses control and invisible characters, naming the line and the character', () => {
    const good = orderLine(1, 'A00', '0', 'Cholera', 'Cholera');
    for (const bad of [
      '\u0000',
      '\u0007',
      '\u001b[31m',
      '\u202e',
      '\u2066',
      '\u200b',
      '\u0085',
      '\r',
      '\u007f',
    ]) {
      const order = [good, orderLine(2, 'A001', '1', 'x', `Cholera${bad} eltor`)].join('\n');
      assert.equal(
        lineOf(() => parseIcd10File(order, 'order')),
        2,
        JSON.stringify(bad),
      );
      const codes = `A000 Cholera\nA001 Cholera${bad}eltor\n`;
      assert.equal(
        lineOf(() => parseIcd10File(codes, 'codes')),
        2,
        JSON.stringify(bad),
      );
    }
    assert.equal(
      lineOf(() => parseIcd10File('A000 Cholera\tdue to\n', 'codes')),
      1,
    );
    assert.throws(
      () => parseIcd10File(`A000 Cholera\nA001 x\u202ey\n`),
      /^WardError: Line 2: the line holds a control or invisible character \(U\+202E\); nothing was imported$/,
    );
    // A tab between code and description, CRLF line ends and accented letters stay accepted.
    assert.equal(parseIcd10File('A000\tCholera\r\nA001 Choléra\r\n').length, 2);
  });

  test('refuses a file without codes', () => {
    assert.throws(
      () => parseIcd10File('\n\n'),
      (e: unknown) => isWardError(e, 'validation_failed'),
    );
  });
});
