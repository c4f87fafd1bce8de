import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { WardError } from '../../platform/errors.ts';
import { aesGcmOpen, aesGcmSeal, keyBytes, nonceBytes, tagBytes } from './aead.ts';

/**
 * Streaming encryption of stored objects (medical images), format 1:
 *
 *   header   "WOB" 0x01 (4 bytes) || chunk size, u32 big-endian (4 bytes)
 *   chunks   AES-256-GCM(ciphertext || tag) of `chunkSize` plaintext bytes each; the last
 *            chunk holds 0..chunkSize bytes (an empty object is one empty final chunk)
 *
 * The chunk size is 1 byte to 64 KiB (`objectChunkBytes`, what Ward writes). A reader must
 * buffer one sealed chunk before it can authenticate it, so the header's chunk size decides
 * how much memory a download takes before it can fail: a header declaring anything larger is
 * refused on sight, and a reader stops as soon as more bytes arrive than the recorded size
 * needs (`sealedObjectSize`), so neither a rewritten header nor a longer file makes it buffer
 * more than one chunk.
 *
 * Every object has its own random 256-bit content key (sealed with the organization's data
 * key in the database, not here), so the nonce can be the chunk index. The associated data of
 * each chunk binds the header, the organization, the object id, the chunk index and whether it
 * is the last chunk: a flipped bit, reordered or swapped chunks, an object copied to another
 * id or tenant, and a truncated or extended object all fail authentication. The plaintext's
 * SHA-256 is checked before the last chunk is released, so a reader never gets the end of an
 * object whose recorded digest does not match.
 */
export const objectChunkBytes = 64 * 1024;
const magic = Buffer.from([0x57, 0x4f, 0x42, 0x01]); // "WOB" + format 1
export const objectHeaderBytes = 8;
const domain = Buffer.from('ward.object.v1\0', 'latin1');

/** What an object's ciphertext is bound to. */
export interface ObjectBinding {
  readonly orgId: string;
  readonly objectId: string;
}

/** A fresh content key for one object (the caller seals it and zeroes it when done). */
export function newObjectKey(): Buffer {
  return randomBytes(keyBytes);
}

/** The ciphertext size of an object of `size` plaintext bytes. */
export function sealedObjectSize(size: number, chunkSize = objectChunkBytes): number {
  const chunks = Math.max(1, Math.ceil(size / chunkSize));
  return objectHeaderBytes + size + chunks * tagBytes;
}

/** What sealing measured: plaintext size and SHA-256. */
export interface SealedObjectInfo {
  readonly size: number;
  readonly sha256: Buffer;
}

/**
 * An async-generator transform (for `stream.pipeline`) that encrypts `source` chunk by chunk.
 * It holds at most one chunk in memory, fails with `payload_too_large` as soon as more than
 * `maxBytes` arrive, and reports size and SHA-256 through `info()` once the source ended.
 * @example await pipeline(body, sealer.transform, file); const { size, sha256 } = sealer.info();
 */
export function objectSealer(
  key: Buffer,
  binding: ObjectBinding,
  opts: { maxBytes: number; chunkSize?: number },
): {
  transform: (source: AsyncIterable<Buffer | string>) => AsyncGenerator<Buffer>;
  info: () => SealedObjectInfo;
} {
  const chunkSize = opts.chunkSize ?? objectChunkBytes;
  checkKey(key, chunkSize);
  const header = headerFor(chunkSize);
  const hash = createHash('sha256');
  let size = 0;
  let done: SealedObjectInfo | undefined;
  async function* transform(source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
    yield header;
    const pending = new PendingBytes();
    let index = 0;
    for await (const part of source) {
      const b = typeof part === 'string' ? Buffer.from(part) : part;
      size += b.length;
      if (size > opts.maxBytes) {
        throw new WardError('payload_too_large', `The file is larger than ${opts.maxBytes} bytes`);
      }
      hash.update(b);
      pending.push(b);
      // Strictly more than a chunk: the last chunk is only known when the source ends.
      while (pending.length > chunkSize) {
        yield sealChunk(key, header, binding, index++, false, pending.take(chunkSize));
      }
    }
    yield sealChunk(key, header, binding, index, true, pending.take(pending.length));
    done = { size, sha256: hash.digest() };
  }
  return {
    transform,
    info: () => {
      if (!done) throw new Error('the object was not sealed to the end');
      return done;
    },
  };
}

/**
 * Decrypts a sealed object as an async generator of plaintext chunks. Every chunk is
 * authenticated before it is yielded; the last one is yielded only after the plaintext's size
 * and SHA-256 match `expect`. Any failure (tampering, truncation, swapping, wrong key) throws
 * `decrypt_failed` and calls `onFailure` first; no unauthenticated byte is ever yielded.
 *
 * Once `signal` is aborted the key is not used again and the generator fails with the abort
 * reason at its next step, never with `decrypt_failed`: a reader that is being closed may zero
 * the key and end the source at once (even while a read is in flight) without that being
 * taken for tampering.
 */
export async function* openObject(
  key: Buffer,
  binding: ObjectBinding,
  expect: SealedObjectInfo,
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  onFailure: () => Promise<void>,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  try {
    yield* openChunks(key, binding, expect, source, signal);
  } catch (e) {
    if (!(e instanceof Unauthentic)) throw e;
    await onFailure();
    throw new WardError('decrypt_failed', 'The stored object failed authentication', {
      objectId: binding.objectId,
    });
  }
}

class Unauthentic extends Error {}

function must(b: Buffer | undefined): Buffer {
  if (!b) throw new Unauthentic('chunk failed authentication');
  return b;
}

async function* openChunks(
  key: Buffer,
  binding: ObjectBinding,
  expect: SealedObjectInfo,
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const buffered = new PendingBytes();
  let header: Buffer | undefined;
  let sealed = 0;
  let index = 0;
  let size = 0;
  // Bytes the source delivered, and how many the record allows once the header is known.
  let received = 0;
  let expected = Infinity;
  const hash = createHash('sha256');
  // The abort is checked before every use of the key, and before any conclusion is drawn from
  // where the source ended (an aborted source may end early).
  const open = (at: Buffer, i: number, final: boolean, sealedChunk: Buffer): Buffer => {
    signal?.throwIfAborted();
    return must(openChunk(key, at, binding, i, final, sealedChunk));
  };
  for await (const part of source) {
    signal?.throwIfAborted();
    const b = typeof part === 'string' ? Buffer.from(part) : part;
    received += b.length;
    // Checked before the part is kept: a source longer than the record is refused without
    // buffering what the record says cannot be there.
    if (received > expected) throw new Unauthentic('longer than recorded');
    buffered.push(b);
    if (!header) {
      if (buffered.length < objectHeaderBytes) continue;
      header = Buffer.from(buffered.take(objectHeaderBytes));
      const chunkSize = header.readUInt32BE(4);
      if (!header.subarray(0, 4).equals(magic) || chunkSize < 1 || chunkSize > objectChunkBytes)
        throw new Unauthentic('not a sealed object');
      sealed = chunkSize + tagBytes;
      expected = sealedObjectSize(expect.size, chunkSize);
      if (received > expected) throw new Unauthentic('longer than recorded');
    }
    while (buffered.length > sealed) {
      const plain = open(header, index++, false, buffered.take(sealed));
      size += plain.length;
      if (size > expect.size) throw new Unauthentic('longer than recorded');
      hash.update(plain);
      yield plain;
    }
  }
  signal?.throwIfAborted();
  if (!header) throw new Unauthentic('no header');
  const last = open(header, index, true, buffered.take(buffered.length));
  size += last.length;
  hash.update(last);
  if (size !== expect.size || !timingSafeEqual(hash.digest(), expect.sha256)) {
    last.fill(0);
    throw new Unauthentic('size or digest differs from the record');
  }
  if (last.length > 0) yield last;
}

/**
 * Bytes that arrive in parts of any size and leave in chunks. The parts are kept in a list and
 * joined once per chunk taken: a body sent as one-byte parts (chunked transfer encoding lets a
 * client do that) then costs time linear in its size, where joining at every part would copy
 * the pending chunk again for each byte.
 */
class PendingBytes {
  #parts: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.#parts.push(b);
    this.length += b.length;
  }

  /** Removes and returns the first `n` bytes (at most `length`). */
  take(n: number): Buffer {
    const all =
      this.#parts.length === 1
        ? (this.#parts[0] as Buffer)
        : Buffer.concat(this.#parts, this.length);
    const rest = all.subarray(n);
    this.#parts = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return all.subarray(0, n);
  }
}

function headerFor(chunkSize: number): Buffer {
  const h = Buffer.alloc(objectHeaderBytes);
  magic.copy(h, 0);
  h.writeUInt32BE(chunkSize, 4);
  return h;
}

function checkKey(key: Buffer, chunkSize: number): void {
  if (key.length !== keyBytes) throw new Error('object keys are 32 bytes');
  // The bound readers enforce: an object sealed with larger chunks could never be read.
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > objectChunkBytes)
    throw new Error('chunk size must be from 1 byte to 64 KiB');
}

function chunkNonce(index: number): Buffer {
  // Unique per (content key, chunk): each object has its own random key.
  const n = Buffer.alloc(nonceBytes);
  n.writeUInt32BE(Math.floor(index / 2 ** 32), 4);
  n.writeUInt32BE(index % 2 ** 32, 8);
  return n;
}

function chunkAad(header: Buffer, binding: ObjectBinding, index: number, final: boolean): Buffer {
  const id = Buffer.from(binding.objectId, 'utf8');
  const org = Buffer.from(binding.orgId, 'utf8');
  const tail = Buffer.alloc(13);
  tail.writeUInt32BE(Math.floor(index / 2 ** 32), 0);
  tail.writeUInt32BE(index % 2 ** 32, 4);
  tail[8] = final ? 1 : 0;
  tail.writeUInt16BE(org.length, 9);
  tail.writeUInt16BE(id.length, 11);
  return Buffer.concat([domain, header, tail, org, id]);
}

function sealChunk(
  key: Buffer,
  header: Buffer,
  binding: ObjectBinding,
  index: number,
  final: boolean,
  plain: Buffer,
): Buffer {
  return aesGcmSeal(key, chunkNonce(index), chunkAad(header, binding, index, final), plain);
}

function openChunk(
  key: Buffer,
  header: Buffer,
  binding: ObjectBinding,
  index: number,
  final: boolean,
  sealed: Buffer,
): Buffer | undefined {
  return aesGcmOpen(key, chunkNonce(index), chunkAad(header, binding, index, final), sealed);
}
