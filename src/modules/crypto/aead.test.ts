import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { aesGcmOpen, aesGcmSeal, nonceBytes, randomNonce } from './aead.ts';
import {
  fieldKeyVersion,
  headerBytes,
  openField,
  sealField,
  type FieldPlace,
} from './field-format.ts';

const hex = (s: string) => Buffer.from(s, 'hex');

// Published AES-GCM vectors (McGrew & Viega, "The Galois/Counter Mode of Operation",
// test cases 13, 14 and 16: AES-256 with a 96-bit IV).
const vectors = [
  {
    name: 'test case 13 (empty plaintext)',
    key: '0'.repeat(64),
    iv: '0'.repeat(24),
    aad: '',
    pt: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'test case 14 (one zero block)',
    key: '0'.repeat(64),
    iv: '0'.repeat(24),
    aad: '',
    pt: '0'.repeat(32),
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'test case 16 (with associated data)',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
    iv: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    pt: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

describe('AES-256-GCM wrapper: known answers', () => {
  for (const v of vectors) {
    test(v.name, () => {
      const sealed = aesGcmSeal(hex(v.key), hex(v.iv), hex(v.aad), hex(v.pt));
      assert.equal(sealed.toString('hex'), v.ct + v.tag);
      assert.equal(aesGcmOpen(hex(v.key), hex(v.iv), hex(v.aad), sealed)?.toString('hex'), v.pt);
    });
  }

  test('a wrong tag, key or AAD opens nothing', () => {
    const v = vectors[2]!;
    const sealed = aesGcmSeal(hex(v.key), hex(v.iv), hex(v.aad), hex(v.pt));
    assert.equal(aesGcmOpen(randomBytes(32), hex(v.iv), hex(v.aad), sealed), undefined);
    assert.equal(aesGcmOpen(hex(v.key), hex(v.iv), Buffer.from('x'), sealed), undefined);
    assert.equal(aesGcmOpen(hex(v.key), hex(v.iv), hex(v.aad), sealed.subarray(0, 8)), undefined);
  });

  test('wrong key or nonce sizes are refused', () => {
    assert.throws(() =>
      aesGcmSeal(randomBytes(16), randomBytes(12), Buffer.alloc(0), Buffer.alloc(1)),
    );
    assert.throws(() =>
      aesGcmSeal(randomBytes(32), randomBytes(16), Buffer.alloc(0), Buffer.alloc(1)),
    );
  });
});

describe('field format: bound ciphertext', () => {
  const key = randomBytes(32);
  const orgA = randomUUID();
  const orgB = randomUUID();
  const place: FieldPlace = {
    orgId: orgA,
    table: 'clinical.patients',
    column: 'ssn_encrypted',
    rowId: randomUUID(),
  };
  const stored = sealField(key, 7, place, Buffer.from('123-45-6789'));

  test('round-trips and carries format byte and key version', () => {
    assert.equal(stored[0], 0x01);
    assert.equal(fieldKeyVersion(stored), 7);
    assert.equal(openField(key, place, stored)?.toString(), '123-45-6789');
  });

  test('two encryptions of one value differ (random nonce)', () => {
    assert.notDeepEqual(
      sealField(key, 7, place, Buffer.from('x')),
      sealField(key, 7, place, Buffer.from('x')),
    );
  });

  test('swapping into another row, column or tenant fails to decrypt', () => {
    assert.equal(openField(key, { ...place, rowId: randomUUID() }, stored), undefined);
    assert.equal(openField(key, { ...place, column: 'email_encrypted' }, stored), undefined);
    assert.equal(openField(key, { ...place, table: 'clinical.other' }, stored), undefined);
    assert.equal(openField(key, { ...place, orgId: orgB }, stored), undefined);
  });

  test('the row id binds whatever case it is spelled in (PostgreSQL matches uuids so)', () => {
    const shouted = place.rowId.toUpperCase();
    assert.notEqual(shouted, place.rowId);
    assert.deepEqual(
      openField(key, { ...place, rowId: shouted }, stored),
      Buffer.from('123-45-6789'),
    );
    const sealedShouted = sealField(key, 7, { ...place, rowId: shouted }, Buffer.from('y'));
    assert.deepEqual(openField(key, place, sealedShouted), Buffer.from('y'));
  });

  test('every single-bit flip is rejected', () => {
    for (let i = 0; i < stored.length * 8; i++) {
      const bad = Buffer.from(stored);
      bad[i >> 3]! ^= 1 << (i & 7);
      assert.equal(openField(key, place, bad), undefined, `bit ${i} flip was accepted`);
    }
  });

  test('truncated values and unknown formats are rejected', () => {
    assert.equal(openField(key, place, stored.subarray(0, 20)), undefined);
    const other = Buffer.from(stored);
    other[0] = 0x02;
    assert.equal(fieldKeyVersion(other), undefined);
    assert.equal(openField(key, place, other), undefined);
  });
});

describe('field format: pinned layout', () => {
  test('the stored value opens with associated data built by hand from the documented layout', () => {
    const key = randomBytes(32);
    const place: FieldPlace = {
      orgId: '0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0',
      table: 'clinical.patients',
      column: 'first_name_encrypted',
      rowId: randomUUID(),
    };
    const stored = sealField(key, 3, place, Buffer.from('Zoë'));
    const header = stored.subarray(0, headerBytes);
    assert.deepEqual([...header], [0x01, 0, 0, 0, 3]);
    const part = (s: string) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(b.length);
      return [len, b];
    };
    const aad = Buffer.concat([
      Buffer.from('ward.field.v1\0', 'latin1'),
      header,
      Buffer.from('0f1e2d3c4b5a49788796a5b4c3d2e1f0', 'hex'),
      ...part(place.table),
      ...part(place.column),
      ...part(place.rowId),
    ]);
    const nonce = stored.subarray(headerBytes, headerBytes + nonceBytes);
    const opened = aesGcmOpen(key, nonce, aad, stored.subarray(headerBytes + nonceBytes));
    assert.equal(opened?.toString('utf8'), 'Zoë');
    // The organization is bound by its bytes, so the id's letter case does not matter.
    assert.equal(
      openField(key, { ...place, orgId: place.orgId.toLowerCase() }, stored)?.toString(),
      'Zoë',
    );
  });

  test('pooled nonces never repeat across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(randomNonce().toString('hex'));
    assert.equal(seen.size, 2000);
    assert.ok(!seen.has('0'.repeat(nonceBytes * 2)));
  });
});
