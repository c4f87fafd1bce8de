import { hash } from 'node:crypto';

/**
 * RFC 6962 (Certificate Transparency) Merkle trees over leaf hashes: interior nodes are
 * SHA-256(0x01 || left || right), leaves SHA-256(0x00 || leaf) (see leaf.ts), and a tree of
 * n leaves splits at the largest power of two below n. Domain separation keeps a leaf from
 * ever being passed off as an interior node.
 */

const scratch = Buffer.alloc(65);

/** Interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  scratch[0] = 0x01;
  left.copy(scratch, 1);
  right.copy(scratch, 33);
  return hash('sha256', scratch, 'buffer');
}

/** The tree head (root) over leaf hashes; level by level, an odd last node moves up as is. */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return hash('sha256', Buffer.alloc(0), 'buffer');
  let level: Buffer[] = [...leaves];
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      next.push(nodeHash(level[i] as Buffer, level[i + 1] as Buffer));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Buffer);
    level = next;
  }
  return level[0] as Buffer;
}

/**
 * `merkleRoot` over leaf hashes stored back to back (32 bytes each), as a checkpoint keeps
 * them: the first level hashes each pair straight out of the blob.
 */
export function merkleRootOfConcatenated(blob: Buffer): Buffer {
  const n = Math.floor(blob.length / 32);
  if (n === 0) return merkleRoot([]);
  const level: Buffer[] = [];
  scratch[0] = 0x01;
  for (let i = 0; i + 1 < n; i += 2) {
    blob.copy(scratch, 1, 32 * i, 32 * i + 64);
    level.push(hash('sha256', scratch, 'buffer'));
  }
  if (n % 2 === 1) level.push(blob.subarray(32 * (n - 1), 32 * n));
  return merkleRoot(level);
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 section 2.1.1 audit path PATH(m, D[n]) for leaf `index`, leaf to root. */
export function inclusionPath(leaves: readonly Buffer[], index: number): Buffer[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError('leaf index out of range');
  }
  const path: Buffer[] = [];
  let lo = 0;
  let hi = leaves.length;
  let m = index;
  const frames: Buffer[] = [];
  while (hi - lo > 1) {
    const k = largestPowerOfTwoBelow(hi - lo);
    if (m < k) {
      frames.push(merkleRoot(leaves.slice(lo + k, hi)));
      hi = lo + k;
    } else {
      frames.push(merkleRoot(leaves.slice(lo, lo + k)));
      lo = lo + k;
      m -= k;
    }
  }
  // Frames were collected root-down; the path lists siblings from the leaf up.
  for (let i = frames.length - 1; i >= 0; i--) path.push(frames[i] as Buffer);
  return path;
}

/**
 * Checks an audit path (RFC 9162 section 2.1.3.2): recomputes the root from the leaf hash,
 * its index, the tree size and the path, and compares it with `root`.
 */
export function verifyInclusion(
  leafHashValue: Buffer,
  index: number,
  treeSize: number,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (index < 0 || index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHashValue;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
