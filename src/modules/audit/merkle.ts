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
  for (const l of leaves) if (l.length !== 32) throw new RangeError('a leaf hash is 32 bytes');
  if (leaves.length === 1) return leaves[0] as Buffer;
  return merkleRootOfConcatenated(Buffer.concat(leaves));
}

/**
 * `merkleRoot` over leaf hashes stored back to back (32 bytes each), as a checkpoint keeps
 * them. Each level is written over the first half of one scratch buffer, and every node hash
 * is taken as a latin1 string (one byte a character) and written back into it: asking the
 * hash for a Buffer allocates a backing store per node, which costs more than the hashing.
 */
export function merkleRootOfConcatenated(blob: Buffer): Buffer {
  let n = Math.floor(blob.length / 32);
  if (n === 0) return merkleRoot([]);
  if (n === 1) return blob.subarray(0, 32);
  const level = Buffer.allocUnsafe(32 * Math.ceil(n / 2));
  let from = blob;
  scratch[0] = 0x01;
  while (n > 1) {
    const pairs = n >> 1;
    // Node i is written after pair i is read, and pairs further on lie beyond it.
    for (let i = 0; i < pairs; i++) {
      from.copy(scratch, 1, 64 * i, 64 * i + 64);
      level.write(hash('sha256', scratch, 'binary'), 32 * i, 'latin1');
    }
    if (n % 2 === 1) from.copy(level, 32 * pairs, 32 * (n - 1), 32 * n);
    n = pairs + (n % 2);
    from = level;
  }
  return Buffer.from(level.subarray(0, 32));
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
