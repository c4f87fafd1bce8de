import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePurpose, purposeCodes } from './purposes.ts';

test('a purpose of use is one of the listed HL7 codes exactly as published, nothing else', () => {
  for (const code of purposeCodes) assert.equal(parsePurpose(code), code);
  for (const loose of [
    'treat',
    'Treat',
    ' TREAT',
    'TREAT ',
    'TREAT\t',
    'COMPL',
    'compl',
    'hcompl',
    'TREAT,TREAT',
    'TREAT, HPAYMT',
    '',
    'COVERAGE',
    'ＴＲＥＡＴ',
    'TREAT\u0000',
  ]) {
    assert.equal(parsePurpose(loose), undefined, JSON.stringify(loose));
  }
  assert.equal(parsePurpose(undefined), undefined);
});
