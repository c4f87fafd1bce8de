import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { isWardError } from '../errors.ts';
import { LocalObjectStore } from './local-store.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'ward-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

function staged(): string[] {
  try {
    return readdirSync(path.join(root, '.staging'));
  } catch {
    return [];
  }
}

describe('local object store', () => {
  test('an abort right after create leaves no staged file, however early it comes', async () => {
    const store = new LocalObjectStore(root);
    // Many rounds: a stream that opened its file lazily used to create it after the abort.
    for (let i = 0; i < 200; i += 1) {
      const w = await store.create(`org/${i}/obj`);
      if (i % 2 === 0) w.stream.write(Buffer.alloc(10));
      await w.abort();
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(staged(), []);
  });

  test('a committed write is published and leaves no staged file', async () => {
    const store = new LocalObjectStore(root);
    const w = await store.create('org/c/obj');
    w.stream.end(Buffer.from('sealed bytes'));
    await w.commit();
    await w.abort(); // after a commit, abort is a no-op
    const chunks: Buffer[] = [];
    for await (const c of (await store.read('org/c/obj')) as AsyncIterable<Buffer>) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'sealed bytes');
    assert.deepEqual(staged(), []);
  });

  test(
    'a read holds its file open from the start and releases it when destroyed unread',
    {
      skip: !existsSync('/proc/self/fd'),
    },
    async () => {
      const store = new LocalObjectStore(root);
      const w = await store.create('org/r/obj');
      w.stream.end(Buffer.alloc(200_000, 1));
      await w.commit();
      const open = () =>
        readdirSync('/proc/self/fd').filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`) === path.join(root, 'org/r/obj');
          } catch {
            return false;
          }
        }).length;
      // A caller that gives up between read() and reading (a download whose request failed)
      // must be able to release the object by destroying the stream: it is open already.
      const streams = await Promise.all(Array.from({ length: 20 }, () => store.read('org/r/obj')));
      assert.equal(open(), 20);
      for (const s of streams) s.destroy();
      for (let i = 0; i < 50 && open() > 0; i += 1) await new Promise((r) => setTimeout(r, 10));
      assert.equal(open(), 0);
      await assert.rejects(store.read('org/r/missing'), (e) => isWardError(e, 'not_found'));
    },
  );
});
