import type { Readable, Writable } from 'node:stream';

/**
 * Where large binary objects (medical images) live, outside the database. The store keeps
 * opaque bytes: callers encrypt before writing and authenticate after reading, so a store
 * (a local directory, a bucket) never holds plaintext and is never trusted for integrity.
 *
 * Writes are staged: `create` returns a writer whose bytes land under a temporary name and
 * become visible under `key` only on `commit`, so a failed or aborted upload never leaves a
 * partial object under a real key.
 */
export interface ObjectStore {
  /** Starts writing a new object that `commit` publishes under `key` (which must be unused). */
  create(key: string): Promise<ObjectWriter>;
  /**
   * The object's bytes as a stream; `not_found` when there is no such object. The object is
   * open once this resolves (a file handle, a connection): the caller reads the stream to its
   * end or destroys it, which releases the object at once, a read in flight included.
   */
  read(key: string): Promise<Readable>;
  /** Removes an object; removing a missing one is not an error. */
  remove(key: string): Promise<void>;
  /**
   * Every published object last written before `before`, for the sweep that removes objects
   * no database row references (a crash between publishing and the row's commit).
   */
  list(before: Date): AsyncIterable<StoredObject>;
  /**
   * Removes staged writes begun before `before` (uploads a crash abandoned) and returns how
   * many; with `dryRun` only counts them.
   */
  purgeStaged(before: Date, dryRun?: boolean): Promise<number>;
}

/** One published object as `list` reports it. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly modifiedAt: Date;
}

/** A staged object write. */
export interface ObjectWriter {
  /** Where the bytes go. */
  readonly stream: Writable;
  /** Makes the written bytes durable and publishes them under the key. */
  commit(): Promise<void>;
  /** Discards the staged bytes (safe to call after a failed write or more than once). */
  abort(): Promise<void>;
}

/** Keys are relative paths of safe segments: no `..`, no leading slash, no odd characters. */
export const objectKeyPattern =
  /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}){0,5}$/;
