import { randomUUID } from 'node:crypto';
import { mkdir, open, opendir, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { WardError } from '../errors.ts';
import {
  objectKeyPattern,
  type ObjectStore,
  type ObjectWriter,
  type StoredObject,
} from './object-store.ts';

/**
 * The default object store: files under one directory (`WARD_OBJECT_DIR`, by default
 * `<data dir>/objects`). Staged writes go to `<dir>/.staging/`, are fsynced, then renamed into
 * place (atomic on one file system), and the parent directory is fsynced so the rename
 * survives a crash. Files are created 0600 and directories 0700: the bytes are ciphertext,
 * but nobody else on the host needs to read them.
 */
export class LocalObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async create(key: string): Promise<ObjectWriter> {
    const final = this.#path(key);
    const staging = path.join(this.root, '.staging');
    await mkdir(staging, { recursive: true, mode: 0o700 });
    const temp = path.join(staging, `${randomUUID()}.part`);
    // Open the file before handing out the stream: a stream that opens lazily can create the
    // file after an early abort has already removed it, leaving a stray staged file behind.
    const handle = await open(temp, 'wx', 0o600);
    const stream = handle.createWriteStream();
    let state: 'open' | 'committed' | 'aborted' = 'open';
    return {
      stream,
      commit: async () => {
        if (state !== 'open') throw new Error(`the write was already ${state}`);
        if (!stream.writableFinished) await finished(stream);
        const fh = await open(temp, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
        if (await exists(final)) throw new WardError('conflict', 'The object key is taken');
        await rename(temp, final);
        state = 'committed';
        await syncDir(path.dirname(final));
      },
      abort: async () => {
        if (state === 'committed') return;
        state = 'aborted';
        if (!stream.closed) {
          const closed = new Promise<void>((resolve) =>
            stream.once('close', () => {
              resolve();
            }),
          );
          stream.destroy();
          await closed;
        }
        await rm(temp, { force: true });
      },
    };
  }

  async read(key: string): Promise<Readable> {
    const file = this.#path(key);
    // The file is opened here, not lazily by the stream: a missing object is a not_found now
    // (not a stream error later), and the stream owns an open handle from the start, which
    // it closes when it ends or is destroyed.
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new WardError('not_found', 'The stored object is missing');
      throw e;
    }
    return handle.createReadStream({ highWaterMark: 64 * 1024 });
  }

  async remove(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async *list(before: Date): AsyncIterable<StoredObject> {
    if (!(await exists(this.root))) return;
    // Depth-first over the key segments; `.staging` and anything that is not a valid key are
    // not published objects and are never listed (so never swept).
    const walk = async function* (
      dir: string,
      prefix: string,
      depth: number,
    ): AsyncGenerator<StoredObject> {
      for await (const entry of await opendir(dir)) {
        if (entry.name.startsWith('.')) continue;
        const key = prefix ? `${prefix}/${entry.name}` : entry.name;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (depth < 5) yield* walk(full, key, depth + 1);
        } else if (entry.isFile() && objectKeyPattern.test(key)) {
          const st = await stat(full);
          if (st.mtime < before) yield { key, size: st.size, modifiedAt: st.mtime };
        }
      }
    };
    yield* walk(this.root, '', 0);
  }

  async purgeStaged(before: Date, dryRun = false): Promise<number> {
    const staging = path.join(this.root, '.staging');
    if (!(await exists(staging))) return 0;
    let removed = 0;
    for (const name of await readdir(staging)) {
      if (!name.endsWith('.part')) continue;
      const full = path.join(staging, name);
      const st = await stat(full).catch(() => undefined);
      if (st?.isFile() && st.mtime < before) {
        if (!dryRun) await rm(full, { force: true });
        removed += 1;
      }
    }
    return removed;
  }

  /** The file of `key`; refuses keys that could leave the root. */
  #path(key: string): string {
    if (!objectKeyPattern.test(key) || key.split('/').some((s) => s === '.' || s === '..'))
      throw new WardError('bad_request', 'Invalid object key');
    const p = path.join(this.root, key);
    if (!p.startsWith(this.root + path.sep))
      throw new WardError('bad_request', 'Invalid object key');
    return p;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the file itself is already durable.
  }
}
