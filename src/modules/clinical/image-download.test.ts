import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardError } from '../../platform/errors.ts';
import { ImageDownload, type DownloadEnd } from './image-download.ts';
import type { ImageContent } from './images-service.ts';

const chunk = 64 * 1024;

/**
 * Content of `chunks` chunks that fails with `failAt` (a chunk index) if given. Its key is a
 * buffer the test holds, zeroed by close() as the real content's is.
 */
function fakeContent(chunks: number, failAt?: { index: number; error: Error }, delayMs = 0) {
  const key = Buffer.alloc(32, 0xab);
  let closes = 0;
  let closed = false;
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      for (let i = 0; i < chunks; i += 1) {
        if (failAt?.index === i) throw failAt.error;
        if (closed) return;
        if (delayMs > 0) await sleep(delayMs);
        yield Buffer.alloc(chunk, i);
      }
    } finally {
      await content.close();
    }
  }
  const content: ImageContent = {
    chunks: gen(),
    close: () => {
      closes += 1;
      closed = true;
      key.fill(0);
      return Promise.resolve();
    },
  };
  return { content, key, closes: () => closes };
}

/** A response that takes bytes (or none, to act as a client that stopped reading). */
function response(opts: { takes: boolean }): Writable & { taken: number } {
  const res = new Writable({
    highWaterMark: 1024,
    write(c: Buffer, _e, cb) {
      if (!opts.takes) return; // never calls back: the client does not read
      res.taken += c.length;
      cb();
    },
  }) as Writable & { taken: number };
  res.taken = 0;
  return res;
}

function start(content: ImageContent, res: Writable, idleMs = 5_000) {
  const ends: DownloadEnd[] = [];
  const download = new ImageDownload(content, res as unknown as ServerResponse, {
    idleMs,
    onEnd: (e) => ends.push(e),
  });
  // Fastify listens for the body's errors; so does the test, as nothing else would.
  download.body.on('error', () => undefined);
  return { download, ends };
}

const settled = async (ends: DownloadEnd[], waitMs = 1_000) => {
  for (let i = 0; i < waitMs / 5 && ends.length === 0; i += 1) await sleep(5);
  await sleep(20); // and nothing more comes
  return ends;
};

const zero = (b: Buffer) => b.every((x) => x === 0);

describe('image download lifecycle', () => {
  test('a whole file written to a finished response ends complete, its content closed', async () => {
    const f = fakeContent(4);
    const res = response({ takes: true });
    const { download, ends } = start(f.content, res);
    download.handedOver(download.body);
    download.body.pipe(res);
    assert.deepEqual(await settled(ends), [{ complete: true, bytesSent: 4 * chunk }]);
    assert.equal(res.taken, 4 * chunk);
    assert.ok(zero(f.key), 'the key is zeroed');
  });

  test('authentication failing part-way aborts the response instead of ending it', async () => {
    const f = fakeContent(6, {
      index: 3,
      error: new WardError('decrypt_failed', 'The stored object failed authentication'),
    });
    const res = response({ takes: true });
    let ended = false;
    res.on('finish', () => (ended = true));
    const { download, ends } = start(f.content, res);
    download.handedOver(download.body);
    download.body.pipe(res);
    const [end] = await settled(ends);
    assert.deepEqual(end, { complete: false, bytesSent: 3 * chunk, reason: 'decrypt_failed' });
    assert.equal(res.destroyed, true, 'the response is destroyed');
    assert.equal(ended, false, 'and never finished: no client can take it for the whole file');
    assert.ok(zero(f.key));
  });

  test('a store failure part-way is recorded as such', async () => {
    const f = fakeContent(6, { index: 2, error: new Error('EIO: the disk went away') });
    const res = response({ takes: true });
    const { download, ends } = start(f.content, res);
    download.handedOver(download.body);
    download.body.pipe(res);
    const [end] = await settled(ends);
    assert.deepEqual(end, { complete: false, bytesSent: 2 * chunk, reason: 'object_read_failed' });
    assert.ok(zero(f.key));
  });

  test('a client that stops reading is cut off after the idle limit, releasing key and file', async () => {
    const f = fakeContent(1000);
    const res = response({ takes: false });
    const { download, ends } = start(f.content, res, 100);
    download.handedOver(download.body);
    download.body.pipe(res);
    const [end] = await settled(ends);
    assert.equal(end?.complete, false);
    assert.equal('reason' in end ? end.reason : undefined, 'stalled');
    assert.ok(end.bytesSent < 1000 * chunk);
    assert.equal(res.destroyed, true);
    for (let i = 0; i < 50 && !zero(f.key); i += 1) await sleep(5);
    assert.ok(zero(f.key), 'the key of a stalled download is zeroed');
  });

  test('a client that leaves mid-stream ends it as connection_closed', async () => {
    const f = fakeContent(1000, undefined, 1);
    const res = response({ takes: true });
    const { download, ends } = start(f.content, res);
    download.handedOver(download.body);
    download.body.pipe(res);
    while (res.taken < 3 * chunk) await sleep(1);
    res.destroy();
    const [end] = await settled(ends);
    assert.equal(end?.complete, false);
    assert.equal('reason' in end ? end.reason : undefined, 'connection_closed');
    assert.ok(end.bytesSent >= 3 * chunk && end.bytesSent < 1000 * chunk);
    for (let i = 0; i < 50 && !zero(f.key); i += 1) await sleep(5);
    assert.ok(zero(f.key));
  });

  test('a response gone before the file was handed to it: closed at once, recorded as 0 bytes sent', async () => {
    const f = fakeContent(4);
    const res = response({ takes: true });
    const { download, ends } = start(f.content, res);
    res.destroy(); // the client left while the request's transaction ran
    await sleep(10);
    assert.ok(zero(f.key), 'closed as soon as the response is gone, before any hand-over');
    download.handedOver(download.body); // the request committed: its response carries the file
    download.body.pipe(res);
    assert.deepEqual(await settled(ends), [
      { complete: false, bytesSent: 0, reason: 'connection_closed' },
    ]);
  });

  test('a request that failed after opening the content (its response is an error) closes it and records no end', async () => {
    const f = fakeContent(4);
    const res = response({ takes: true });
    const { download, ends } = start(f.content, res);
    download.handedOver('{"code":"internal"}'); // the transaction did not commit
    res.end('{"code":"internal"}');
    assert.deepEqual(await settled(ends, 100), []);
    assert.ok(zero(f.key));
    assert.ok(f.closes() >= 1);
  });
});
