import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWardError } from '../../platform/errors.ts';
import {
  blindIndexBits,
  computeBlindIndex,
  deriveIndexKey,
  deriveRecoveryCodeKey,
  deriveRequestHashKey,
  nameDobValue,
  normalizeForIndex,
} from './blind-index.ts';

describe('blind index', () => {
  test('known answer: HMAC-SHA-256 under the derived column key, truncated', () => {
    // Computed independently with: openssl dgst -sha256 -mac HMAC (see the test's history).
    const root = Buffer.alloc(32, 0x11);
    const key = deriveIndexKey(root, 'ward.patients.email_bidx');
    assert.equal(
      key.toString('hex'),
      '399fc7cdcc6c8c399ca4869093cb02f28c57a487e2874c4ec03caf5ba7562325',
    );
    const full = 'e6416d47973b68e1477f490611cd5880783ab7383af69275326479a98f87b693';
    assert.equal(
      computeBlindIndex(key, 'email', '  Alice@Example.COM ', 256).toString('hex'),
      full,
    );
    assert.equal(
      computeBlindIndex(key, 'email', 'alice@example.com', 64).toString('hex'),
      full.slice(0, 16),
    );
  });

  test('known answer: look-alikes index like their ASCII form; version 1 is kept for old rows', () => {
    // Computed independently with openssl dgst -sha256 -mac HMAC (key, then value).
    const root = Buffer.alloc(32, 0x11);
    const nameKey = deriveIndexKey(root, 'clinical.patients.name_dob_bidx');
    assert.equal(
      nameKey.toString('hex'),
      'c37f665dfda766fcf939f641d62c32cd757ebf5c46a690cf1c2cc096bf67ec96',
    );
    const ascii = 'bc238770679deeb7da483fed0e040256a44173716e91994d7dcfda51752bd18f'; // o'brien␟1980-02-03
    const legacy = '78bd10a04022bb8a067f55af1ca2a84406271e9bf5959cebf53e08f299bd407c'; // obrien␟1980-02-03
    const name = (last: string, version?: number) =>
      computeBlindIndex(
        nameKey,
        'name_dob',
        nameDobValue(last, '1980-02-03'),
        256,
        version,
      ).toString('hex');
    assert.equal(name("O'Brien"), ascii);
    assert.equal(name('O\u2019Brien'), ascii);
    assert.equal(name('O\u02BCBRIEN'), ascii);
    assert.equal(name("O'Brien", 1), ascii, 'an ASCII name keeps its stored index');
    assert.equal(name('O\u2019Brien', 1), legacy, 'what version 1 stored for the curly apostrophe');
    const phoneKey = deriveIndexKey(root, 'clinical.patients.phone_bidx');
    const phone = 'e656e7abb3dff7e21bf9486109ad2dcb409c4bdca6d22f3346ceeeb4015982a4'; // +15550100123
    for (const v of [
      '(555) 010-0123',
      '\uFF08\uFF15\uFF15\uFF15\uFF09\uFF10\uFF11\uFF10\uFF0D\uFF10\uFF11\uFF12\uFF13',
    ])
      assert.equal(computeBlindIndex(phoneKey, 'phone', v, 256).toString('hex'), phone, v);
  });

  test('the idempotency request-hash key is its own derivation, never a column key', () => {
    const root = Buffer.alloc(32, 0x11);
    const key = deriveRequestHashKey(root);
    assert.equal(key.length, 32);
    assert.ok(key.equals(deriveRequestHashKey(Buffer.from(root))), 'deterministic per root');
    assert.ok(!key.equals(deriveRequestHashKey(Buffer.alloc(32, 0x22))), 'per organization root');
    for (const column of [
      '',
      'idempotency',
      'ward.idempotency.v1',
      'ward.idempotency_keys.request_hash',
    ]) {
      assert.ok(!key.equals(deriveIndexKey(root, column)), column);
    }
  });

  test('the recovery-code key is its own derivation, unlike every other derived key', () => {
    const root = Buffer.alloc(32, 0x11);
    const key = deriveRecoveryCodeKey(root);
    assert.equal(key.length, 32);
    assert.ok(key.equals(deriveRecoveryCodeKey(Buffer.from(root))), 'deterministic per root');
    assert.ok(!key.equals(deriveRecoveryCodeKey(Buffer.alloc(32, 0x22))), 'per organization root');
    assert.ok(!key.equals(deriveRequestHashKey(root)));
    for (const column of ['', 'ward.recovery-code.v1', 'ward.recovery_codes.code_hash'])
      assert.ok(!key.equals(deriveIndexKey(root, column)), column);
  });

  test('different columns and roots give unrelated indexes', () => {
    const root = Buffer.alloc(32, 0x11);
    const a = computeBlindIndex(deriveIndexKey(root, 'a.t.email_bidx'), 'email', 'x@y.z', 64);
    const b = computeBlindIndex(deriveIndexKey(root, 'a.t.other_bidx'), 'email', 'x@y.z', 64);
    const c = computeBlindIndex(
      deriveIndexKey(Buffer.alloc(32, 0x22), 'a.t.email_bidx'),
      'email',
      'x@y.z',
      64,
    );
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('normalization makes equal facts equal', () => {
    assert.equal(normalizeForIndex('ssn', '123-45-6789'), '123456789');
    assert.equal(normalizeForIndex('ssn', '123 45 6789'), '123456789');
    assert.equal(normalizeForIndex('email', ' Bob@Example.org'), 'bob@example.org');
    assert.equal(normalizeForIndex('phone', '(555) 123-4567'), '+15551234567');
    assert.equal(normalizeForIndex('phone', '+44 20 7946 0958'), '+442079460958');
    assert.equal(normalizeForIndex('name', '  José   ÁLVAREZ '), 'jose alvarez');
    assert.equal(normalizeForIndex('mrn', 'MRN-0042'), 'MRN-0042');
    assert.equal(
      normalizeForIndex('name_dob', nameDobValue('Müller', '1980-02-03')),
      'muller\u001f1980-02-03',
    );
  });

  test('a last name carrying the separator cannot stand in for another birth date', () => {
    // Otherwise "Smith<US>1980-02-03" searched with any birth date finds Smith born 1980-02-03,
    // and the check after decryption (the same normalization) agrees.
    const real = normalizeForIndex('name_dob', nameDobValue('Smith', '1980-02-03'));
    let forged: string | undefined;
    try {
      forged = normalizeForIndex('name_dob', nameDobValue('Smith\u001f1980-02-03', '1999-01-01'));
    } catch (e) {
      assert.ok(isWardError(e, 'invalid_phi_value'));
    }
    assert.notEqual(forged, real);
  });

  test('MRNs are kept exactly as issued (case matters)', () => {
    assert.notEqual(normalizeForIndex('mrn', 'mrn-0042'), normalizeForIndex('mrn', 'MRN-0042'));
  });

  test('values that cannot be normalized are refused without echoing them', () => {
    const cases: [Parameters<typeof normalizeForIndex>[0], string][] = [
      ['ssn', '12345'],
      ['email', 'not-an-email'],
      ['phone', '12345'],
      ['name', '   '],
      ['mrn', ''],
      ['name_dob', nameDobValue('Smith', '03/02/1980')],
    ];
    for (const [kind, v] of cases) {
      assert.throws(
        () => normalizeForIndex(kind, v),
        (e: unknown) => isWardError(e, 'invalid_phi_value') && (v === '' || !e.message.includes(v)),
        `${kind} accepted ${v}`,
      );
    }
  });

  test('index length follows the expected table size', () => {
    assert.equal(blindIndexBits(10_000_000), 40);
    assert.equal(blindIndexBits(1_000), 24);
    assert.equal(blindIndexBits(1), 16);
    assert.equal(blindIndexBits(1e12), 56);
  });
});
