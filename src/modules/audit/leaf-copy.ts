import { hash } from 'node:crypto';
import { parseCopyLine } from '../../platform/db/index.ts';
import { eventLeafHash, eventRowFromCopy, leafVersion } from './leaf.ts';

/**
 * Leaf hashes straight from the bytes of a COPY line of `eventRowCopyColumns`, for the
 * verifier's bulk path. Those columns are already in leaf order, so the leaf (`leafText`) is
 * the line with its fields quoted as JSON strings, NULL as `null`, `id` as a number and the
 * two JSON columns spliced as they are. A text field that JSON.stringify would change (a
 * quote, a backslash, a control character; COPY escapes also start with a backslash) sends
 * the line down the exact path instead: decode, build the row, `eventLeafHash`. Valid UTF-8,
 * which is all PostgreSQL sends, needs no other escaping. The result is the same bytes as
 * `eventLeafHash(eventRowFromCopy(parseCopyLine(line)))` (property-tested). Given the
 * organization, the hasher reads lines of `eventRowCopyColumnsWithoutOrg` instead and puts the
 * organization back in its place; the id must then be canonical (lower-case, as the server
 * renders a UUID), or the leaf would differ from the one sealed.
 */

/** Columns spliced as JSON text (phi_fields, metadata); column 0 is the numeric id. */
const jsonColumn = new Uint8Array(21);
jsonColumn[15] = 1;
jsonColumn[20] = 1;
const columns = 21;
const prefix = Buffer.from(`\u0000${JSON.stringify([leafVersion]).slice(0, -1)},`, 'utf8');

const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` is a UUID as PostgreSQL renders one, so `CopyLeafHasher` may be given it. */
export function isCanonicalUuid(id: string): boolean {
  return canonicalUuid.test(id);
}

const TAB = 0x09;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;

function withPrefix(size: number): Buffer {
  const b = Buffer.alloc(size);
  prefix.copy(b, 0);
  return b;
}

/** One event's identity and leaf hash as the bulk path reads it. */
export interface LeafDigest {
  readonly id: number;
  /** `YYYY-MM` of occurred_at (UTC). */
  readonly month: string;
  readonly hash: Buffer;
}

/**
 * Leaf hashes are asked for as latin1 strings (one byte a character) and written into a shared
 * slab, each digest keeping a 32-byte view of it: asking for a Buffer allocates a backing
 * store per hash, which costs more than the hashing itself. Slabs are zeroed when made, so a
 * view's underlying buffer never exposes memory other than hashes.
 */
const slabHashes = 4096;

/** Hashes COPY lines into leaf digests, reusing one scratch buffer. */
export class CopyLeafHasher {
  #slab = Buffer.alloc(32 * slabHashes);
  #slabUsed = 0;
  // The constant prefix stays in place at the start of the scratch buffer.
  #out = withPrefix(4096);
  #month = '';
  readonly #monthBytes = Buffer.alloc(16);
  #monthLength = 0;
  /** `,"<organization>"`, when the lines leave the organization out. */
  readonly #org: Buffer | undefined;
  readonly #orgId: string | undefined;

  /** With `orgId`, lines are of `eventRowCopyColumnsWithoutOrg`, every one that organization's. */
  constructor(orgId?: string) {
    if (orgId === undefined) return;
    if (!canonicalUuid.test(orgId)) {
      throw new Error('CopyLeafHasher: the organization must be a canonical lower-case UUID');
    }
    this.#orgId = orgId;
    this.#org = Buffer.from(`,"${orgId}"`, 'latin1');
  }

  digest(line: Buffer): LeafDigest {
    if (this.#out.length < 2 * line.length + 256) this.#out = withPrefix(2 * line.length + 256);
    const out = this.#out;
    const n = line.length;
    let o = prefix.length;
    let i = 0;
    let id = 0;
    // Column 0: the id, digits only.
    for (; i < n; i++) {
      const b = line[i] as number;
      if (b === TAB) break;
      // Up to 15 digits: beyond 2^53 the number would not print back as the same digits.
      if (b < 0x30 || b > 0x39 || i > 14) return this.#slow(line);
      id = id * 10 + (b - 0x30);
      out[o++] = b;
    }
    if (i === 0) return this.#slow(line);
    let monthStart = -1;
    let col = 1;
    if (this.#org) {
      o += this.#org.copy(out, o);
      col = 2;
    }
    for (; col < columns; col++) {
      if (i >= n || line[i] !== TAB) return this.#slow(line);
      i++;
      out[o++] = COMMA;
      if (line[i] === BACKSLASH) {
        // `\N` is NULL; any other escape takes the exact path.
        if (line[i + 1] === 0x4e && (i + 2 === n || line[i + 2] === TAB)) {
          out[o++] = 0x6e;
          out[o++] = 0x75;
          out[o++] = 0x6c;
          out[o++] = 0x6c;
          i += 2;
          continue;
        }
        return this.#slow(line);
      }
      if (col === 2) monthStart = i;
      if (jsonColumn[col] === 1) {
        for (; i < n; i++) {
          const b = line[i] as number;
          if (b === TAB) break;
          if (b === BACKSLASH) return this.#slow(line);
          out[o++] = b;
        }
      } else {
        out[o++] = QUOTE;
        for (; i < n; i++) {
          const b = line[i] as number;
          if (b === TAB) break;
          if (b < 0x20 || b === QUOTE || b === BACKSLASH) return this.#slow(line);
          out[o++] = b;
        }
        out[o++] = QUOTE;
      }
    }
    if (i !== n || monthStart < 0) return this.#slow(line);
    out[o++] = 0x5d; // ]
    const month = this.#monthAt(line, monthStart);
    if (month === undefined) return this.#slow(line);
    return { id, month, hash: this.#keep(hash('sha256', out.subarray(0, o), 'binary')) };
  }

  /** A 32-byte view of the slab holding `digest` (a latin1 SHA-256 output). */
  #keep(digest: string): Buffer {
    if (this.#slabUsed === this.#slab.length) {
      this.#slab = Buffer.alloc(32 * slabHashes);
      this.#slabUsed = 0;
    }
    const at = this.#slabUsed;
    this.#slab.write(digest, at, 'latin1');
    this.#slabUsed += 32;
    return this.#slab.subarray(at, at + 32);
  }

  /**
   * occurred_at's `YYYY-MM` (up to two characters past its first dash, as `eventRowFromCopy`
   * cuts it), made into a string once per month rather than once per row.
   */
  #monthAt(line: Buffer, start: number): string | undefined {
    const dash = line.indexOf(0x2d, start);
    const len = dash + 3 - start;
    if (dash < 0 || len > this.#monthBytes.length || line.indexOf(TAB, start) < dash + 3) {
      return undefined;
    }
    let same = len === this.#monthLength;
    for (let k = 0; same && k < len; k++) same = line[start + k] === this.#monthBytes[k];
    if (!same) {
      this.#monthLength = len;
      line.copy(this.#monthBytes, 0, start, start + len);
      this.#month = line.toString('latin1', start, start + len);
    }
    return this.#month;
  }

  #slow(line: Buffer): LeafDigest {
    const f = parseCopyLine(line);
    const row = eventRowFromCopy(
      this.#orgId === undefined ? f : [f[0] ?? null, this.#orgId, ...f.slice(1)],
    );
    return { id: row.id, month: row.month, hash: eventLeafHash(row) };
  }
}
