import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { leafHash } from './leaf.ts';
import {
  inclusionPath,
  merkleRoot,
  merkleRootOfConcatenated,
  nodeHash,
  verifyInclusion,
} from './merkle.ts';

/** RFC 6962 MTH, written exactly as the RFC defines it, as the reference. */
function referenceRoot(d: readonly Buffer[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(referenceRoot(d.slice(0, k)), referenceRoot(d.slice(k)));
}

const leaves = (n: number) =>
  Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

describe('merkle (RFC 6962)', () => {
  test('the root over hashes stored back to back equals the root over the list', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 64, 100, 1023, 1025, 4097]) {
      const ls = leaves(n);
      const root = merkleRootOfConcatenated(Buffer.concat(ls));
      assert.ok(root.equals(merkleRoot(ls)), `n=${n}`);
      assert.ok(root.equals(referenceRoot(ls)), `n=${n}`);
    }
  });

  test('a leaf that is not a 32-byte hash is refused, not silently cut', () => {
    const ls = leaves(3);
    assert.throws(() => merkleRoot([...ls, Buffer.alloc(33)]), RangeError);
    assert.throws(() => merkleRoot([Buffer.alloc(31), ...ls]), RangeError);
    assert.throws(() => merkleRoot([Buffer.alloc(33)]), RangeError);
  });

  test('leaf and node hashes are domain-separated', () => {
    const a = Buffer.from('a');
    assert.equal(
      leafHash(a).toString('hex'),
      createHash('sha256')
        .update(Buffer.from([0, 0x61]))
        .digest('hex'),
    );
    // A one-leaf tree's root is the leaf hash, never the raw data's hash.
    assert.notEqual(
      merkleRoot([leafHash(a)]).toString('hex'),
      createHash('sha256').update(a).digest('hex'),
    );
  });

  test('matches the RFC 6962 test vector for the empty tree', () => {
    assert.equal(
      merkleRoot([]).toString('hex'),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  test('the iterative root equals the recursive definition for every size up to 70', () => {
    for (let n = 1; n <= 70; n++) {
      const l = leaves(n);
      assert.ok(merkleRoot(l).equals(referenceRoot(l)), `size ${n}`);
    }
  });

  test('every leaf of every tree has a verifying inclusion proof; a wrong one fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (n, seed) => {
        const l = leaves(n);
        const root = merkleRoot(l);
        const i = seed % n;
        const path = inclusionPath(l, i);
        assert.ok(verifyInclusion(l[i]!, i, n, path, root));
        if (n > 1) {
          const other = (i + 1) % n;
          assert.equal(verifyInclusion(l[other]!, i, n, path, root), false);
          assert.equal(verifyInclusion(l[i]!, other, n, path, root), false);
        }
        if (path.length > 0) {
          const bent = path.map((p, j) => (j === seed % path.length ? leafHash(p) : p));
          assert.equal(verifyInclusion(l[i]!, i, n, bent, root), false);
        }
        assert.equal(verifyInclusion(l[i]!, i, n, [...path, root], root), false);
      }),
      { numRuns: 300 },
    );
  });
});
