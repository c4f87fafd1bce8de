import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { base32Decode, base32Encode, hotp, totpCode, totpStep, verifyTotp } from './totp.ts';

// RFC 6238 Appendix B test vectors (SHA-1 seed "12345678901234567890", 8 digits).
const rfcSecret = Buffer.from('12345678901234567890');
const vectors: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

test('RFC 6238 known answers (SHA-1)', () => {
  for (const [t, expected] of vectors) {
    assert.equal(hotp(rfcSecret, BigInt(Math.floor(t / 30)), 8), expected, `t=${t}`);
  }
});

test('RFC 4226 Appendix D known answers', () => {
  const expected = [
    '755224',
    '287082',
    '359152',
    '969429',
    '338314',
    '254676',
    '287922',
    '162583',
    '399871',
    '520489',
  ];
  expected.forEach((code, i) => assert.equal(hotp(rfcSecret, BigInt(i)), code));
});

test('base32 round-trips and matches RFC 4648 vectors', () => {
  assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
  assert.equal(base32Decode('MZXW6YTBOI======').toString(), 'foobar');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) =>
      base32Decode(base32Encode(Buffer.from(b))).equals(Buffer.from(b)),
    ),
  );
  assert.throws(() => base32Decode('not*base32'));
});

test('verification accepts ±1 step, rejects reuse and older steps', () => {
  const secret = Buffer.from('0123456789abcdef0123');
  const now = 1_700_000_000_000;
  const step = totpStep(now);
  assert.equal(verifyTotp(secret, totpCode(secret, now), now, null), step);
  assert.equal(verifyTotp(secret, totpCode(secret, now - 30_000), now, null), step - 1n);
  assert.equal(verifyTotp(secret, totpCode(secret, now + 30_000), now, null), step + 1n);
  assert.equal(verifyTotp(secret, totpCode(secret, now - 60_000), now, null), undefined);
  // Single use: once step N was accepted, neither N nor anything older is.
  assert.equal(verifyTotp(secret, totpCode(secret, now), now, step), undefined);
  assert.equal(verifyTotp(secret, totpCode(secret, now - 30_000), now, step), undefined);
  assert.equal(verifyTotp(secret, '12345', now, null), undefined);
  assert.equal(verifyTotp(secret, 'abcdef', now, null), undefined);
});
