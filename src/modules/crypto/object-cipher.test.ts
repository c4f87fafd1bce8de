import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mock, test } from 'node:test';
import { isWardError } from '../../platform/errors.ts';
import {
  newObjectKey,
  objectChunkBytes,
  objectHeaderBytes,
  objectSealer,
  openObject,
  sealedObjectSize,
} from './object-cipher.ts';

const binding = { orgId: '00000000-0000-4000-8000-000000000001', objectId: 'img-1' };

async function seal(key: Buffer, data: Buffer, chunkSize: number, max = 1 << 20) {
  const s = objectSealer(key, binding, { maxBytes: max, chunkSize });
  const out: Buffer[] = [];
  // Feed in odd-sized pieces, so chunking does not depend on how the bytes arrive.
  async function* src() {
    for (let i = 0; i < data.length; i += 7) yield data.subarray(i, i + 7);
  }
  for await (const c of s.transform(src())) out.push(c);
  return { sealed: Buffer.concat(out), info: s.info() };
}

async function open(
  key: Buffer,
  sealed: Buffer,
  info: { size: number; sha256: Buffer },
  b = binding,
) {
  const out: Buffer[] = [];
  for await (const c of openObject(key, b, info, [sealed], () => Promise.resolve())) out.push(c);
  return Buffer.concat(out);
}

const fails = (p: Promise<unknown>) => assert.rejects(p, (e) => isWardError(e, 'decrypt_failed'));

test('objects round-trip at every size around the chunk boundary, empty included', async () => {
  const key = newObjectKey();
  for (const size of [0, 1, 31, 32, 33, 64, 65, 100]) {
    const data = randomBytes(size);
    const { sealed, info } = await seal(key, data, 32);
    assert.equal(sealed.length, sealedObjectSize(size, 32));
    assert.equal(info.size, size);
    assert.ok((await open(key, sealed, info)).equals(data), `size ${size}`);
  }
});

test('tampering, truncation, extension, reordering and rebinding are all detected', async () => {
  const key = newObjectKey();
  const data = randomBytes(100);
  const { sealed, info } = await seal(key, data, 32);
  const chunk = 32 + 16;
  const flipped = Buffer.from(sealed);
  flipped[20] = flipped[20]! ^ 1;
  await fails(open(key, flipped, info));
  await fails(open(key, sealed.subarray(0, 8 + 3 * chunk), info)); // last chunk dropped
  await fails(open(key, sealed.subarray(0, sealed.length - 1), info));
  await fails(open(key, Buffer.concat([sealed, Buffer.alloc(16)]), info));
  const swapped = Buffer.concat([
    sealed.subarray(0, 8),
    sealed.subarray(8 + chunk, 8 + 2 * chunk),
    sealed.subarray(8, 8 + chunk),
    sealed.subarray(8 + 2 * chunk),
  ]);
  await fails(open(key, swapped, info));
  await fails(open(key, sealed, info, { ...binding, objectId: 'img-2' }));
  await fails(
    open(key, sealed, info, { ...binding, orgId: '00000000-0000-4000-8000-000000000002' }),
  );
  await fails(open(newObjectKey(), sealed, info));
  await fails(open(key, sealed, { ...info, sha256: Buffer.alloc(32) }));
  await fails(open(key, sealed, { ...info, size: 99 }));
  const header = Buffer.from(sealed);
  header.writeUInt32BE(64, 4); // a different chunk size in the header
  await fails(open(key, header, info));
});

test('the size limit is enforced while streaming', async () => {
  await assert.rejects(seal(newObjectKey(), randomBytes(50), 32, 49), (e) =>
    isWardError(e, 'payload_too_large'),
  );
});

test('many tiny parts are joined once per chunk, not copied once per part', async () => {
  // A client can send a body as one-byte chunked-encoding chunks, and the HTTP parser hands
  // each on as its own part: copying the pending chunk for every part would cost about
  // size x chunk / 2 bytes of copying (seconds of CPU per megabyte at 64 KiB chunks).
  const key = newObjectKey();
  const data = randomBytes(160 * 1024);
  async function* bytes(b: Buffer) {
    for (let i = 0; i < b.length; i += 1) yield b.subarray(i, i + 1);
  }
  const concat = mock.method(Buffer, 'concat');
  const copied = () => concat.mock.calls.reduce((n, c) => n + c.result!.length, 0);
  try {
    const s = objectSealer(key, binding, { maxBytes: 1 << 20 });
    const out: Buffer[] = [];
    for await (const c of s.transform(bytes(data))) out.push(c);
    assert.ok(copied() <= 2 * data.length, `sealing copied ${copied()} bytes`);
    const sealed = Buffer.concat(out);
    concat.mock.resetCalls();
    const plain: Buffer[] = [];
    for await (const c of openObject(key, binding, s.info(), bytes(sealed), () =>
      Promise.resolve(),
    ))
      plain.push(c);
    assert.ok(copied() <= 2 * sealed.length, `opening copied ${copied()} bytes`);
    assert.ok(Buffer.concat(plain).equals(data));
  } finally {
    concat.mock.restore();
  }
});

/** `bytes` in parts of `part` bytes, made only when the reader asks; `pulled()` says how many. */
function lazily(bytes: Buffer, part: number) {
  let pulled = 0;
  async function* parts() {
    for (let i = 0; i < bytes.length; i += part) {
      const p = bytes.subarray(i, i + part);
      pulled += p.length;
      yield p;
    }
  }
  return { parts: parts(), pulled: () => pulled };
}

async function drain(it: AsyncIterable<Buffer>): Promise<void> {
  for await (const c of it) c.fill(0);
}

test('a hostile header cannot make a reader buffer more than the format needs', async () => {
  // A reader buffers one sealed chunk before it can authenticate it, so the chunk size in the
  // header decides how much memory a download takes before it fails: a header rewritten to
  // declare 16 MiB chunks used to make every download of a large object buffer 16 MiB.
  const key = newObjectKey();
  const data = randomBytes(1_000_000);
  const s = objectSealer(key, binding, { maxBytes: 1 << 21 });
  const out: Buffer[] = [];
  for await (const c of s.transform(lazily(data, 1 << 20).parts)) out.push(c);
  const sealed = Buffer.concat(out);
  const part = 16 * 1024;
  for (const declared of [objectChunkBytes + 1, 1 << 20, 16 * 1024 * 1024, 0, 2 ** 32 - 1]) {
    const hostile = Buffer.from(sealed);
    hostile.writeUInt32BE(declared, 4);
    const source = lazily(hostile, part);
    await fails(drain(openObject(key, binding, s.info(), source.parts, () => Promise.resolve())));
    assert.ok(
      source.pulled() <= part,
      `a header declaring ${declared}-byte chunks made the reader take ${source.pulled()} bytes`,
    );
  }
  // The header of a large object over the record of a small one: the record says how long
  // the object is, so the reader refuses as soon as more arrives than that, and never
  // buffers a chunk the record says cannot exist.
  const small = { size: 100, sha256: Buffer.alloc(32) };
  const longer = lazily(sealed, part);
  await fails(drain(openObject(key, binding, small, longer.parts, () => Promise.resolve())));
  assert.ok(longer.pulled() <= part, `the reader took ${longer.pulled()} bytes`);
  assert.equal(sealedObjectSize(small.size), objectHeaderBytes + 100 + 16);
  // Sealing is held to the same bound: no writer makes chunks a reader would refuse.
  assert.throws(() => objectSealer(key, binding, { maxBytes: 1, chunkSize: objectChunkBytes + 1 }));
});

test('an aborted reader uses its key no more and is not taken for tampering', async () => {
  // A download being closed zeroes its content key at once; chunks already buffered must not
  // then be "decrypted" with the zeroed key, which would fail them and report tampering.
  const key = newObjectKey();
  const data = randomBytes(200);
  const { sealed, info } = await seal(key, data, 32);
  const abort = new AbortController();
  let reported = 0;
  const reader = openObject(
    key,
    binding,
    info,
    [sealed], // everything arrives at once: the next chunks are already buffered
    () => {
      reported += 1;
      return Promise.resolve();
    },
    abort.signal,
  );
  const first = await reader.next();
  assert.ok(!first.done && first.value.equals(data.subarray(0, 32)));
  abort.abort();
  key.fill(0);
  await assert.rejects(reader.next(), (e) => e instanceof Error && e.name === 'AbortError');
  assert.equal(reported, 0, 'no decrypt_failed security event');
});
