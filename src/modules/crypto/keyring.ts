import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { keyBytes } from './aead.ts';
import {
  currentNormalization,
  deriveIndexKey,
  deriveRecoveryCodeKey,
  deriveRequestHashKey,
} from './blind-index.ts';
import { KeyCache } from './key-cache.ts';
import {
  findActiveKey,
  findIndexKey,
  findKeyVersion,
  insertFirstKey,
  insertIndexKey,
} from './keys-repo.ts';
import type { KekProvider, KekSet, KeyPurpose } from './kek/provider.ts';

/** Tuning of the keyring's caches. */
export interface KeyringOptions {
  /** Most unwrapped keys held at once (default 1024). */
  readonly cacheSize?: number;
  /**
   * How long an unwrapped key and an organization's primary version are trusted (default 2 s
   * for the primary version, 60 s for keys): the bound on how long another process may keep
   * writing with the previous version after `ward keys rotate`, or reading after a shred when
   * the shred's notification did not reach it (key-events.ts; normally it forgets at commit).
   */
  readonly keyTtlMs?: number;
  readonly primaryTtlMs?: number;
}

/** What the synchronous `cached*` lookups return when the key is not cached (or has expired). */
export const keyMiss: unique symbol = Symbol('keyMiss');
export type KeyMiss = typeof keyMiss;

/** How long a rotation takes to reach every process; the rewrap job waits this long first. */
export const defaultPrimaryTtlMs = 2_000;

/**
 * Unwraps and caches data keys and blind-index roots. Keys are fetched through the caller's
 * transaction (so RLS decides which organization's keys a request may load, and the embedded
 * engine's single connection is never asked for a second transaction). Callers get a key only
 * inside a synchronous callback, so an eviction can never zero a key that is being used.
 *
 * Every lookup has a synchronous form (`cachedPrimary`, `cachedVersion`, `cachedIndexKey`) that
 * answers from the cache or returns `keyMiss`: the codec uses it so that a request whose keys
 * are cached encrypts or decrypts a whole row without one await per field, and falls back to
 * the asynchronous form (which may query and unwrap) only on a miss.
 */
export class Keyring {
  readonly kek: KekSet;
  readonly #cache: KeyCache;
  readonly #primary = new Map<string, { version: number; expires: number }>();
  readonly #primaryTtlMs: number;
  readonly #unwrapping = new Map<string, Promise<{ key: Buffer; cached: boolean }>>();
  // Bumped by `forget` (per organization) and `clear` (all): a key row read before a forget
  // may still be used by the request that read it, but is never cached after it (otherwise a
  // request racing a shred could put a shredded key back into the cache for a full TTL).
  readonly #orgEpochs = new Map<string, number>();
  #epoch = 0;

  constructor(kek: KekSet, opts: KeyringOptions = {}) {
    this.kek = kek;
    this.#cache = new KeyCache(opts.cacheSize ?? 1024, opts.keyTtlMs ?? 60_000);
    this.#primaryTtlMs = opts.primaryTtlMs ?? defaultPrimaryTtlMs;
  }

  /**
   * Calls `fn` with the organization's primary data key and its version, creating version 1
   * on the organization's first encryption.
   */
  async withPrimary<T>(
    q: Queryable,
    orgId: string,
    fn: (key: Buffer, version: number) => T,
  ): Promise<T> {
    const p = this.#primary.get(orgKey(orgId));
    if (p && p.expires > Date.now()) {
      const key = this.#cache.get(cacheId(orgId, 'data', p.version));
      if (key) return fn(key, p.version);
    }
    const epoch = this.#epochOf(orgId);
    const row = await findActiveKey(q, orgId);
    if (!row) {
      // A first key created in the caller's transaction is not cached: if that transaction
      // rolls back, the key never existed, and nothing may have been encrypted with it.
      const dek = randomBytes(keyBytes);
      const wrapped = await this.kek.current.wrap(dek, { orgId, purpose: 'data', version: 1 });
      if (await insertFirstKey(q, orgId, wrapped, this.kek.current.id)) {
        try {
          return fn(dek, 1);
        } finally {
          dek.fill(0);
        }
      }
      dek.fill(0);
      // Lost the race to a concurrent first encryption, or the organization was shredded.
      if (!(await findActiveKey(q, orgId))) throw new WardError('key_destroyed');
      return this.withPrimary(q, orgId, fn);
    }
    if (this.#epochOf(orgId) === epoch) {
      this.#primary.set(orgKey(orgId), {
        version: row.version,
        expires: Date.now() + this.#primaryTtlMs,
      });
    }
    return this.#withRow(orgId, 'data', row, epoch, fn);
  }

  /**
   * Calls `fn` synchronously with the organization's primary key and version when both are
   * cached and fresh; otherwise returns `keyMiss` without calling it.
   */
  cachedPrimary<T>(orgId: string, fn: (key: Buffer, version: number) => T): T | KeyMiss {
    const p = this.#primary.get(orgKey(orgId));
    if (!p || p.expires <= Date.now()) return keyMiss;
    const key = this.#cache.get(cacheId(orgId, 'data', p.version));
    return key ? fn(key, p.version) : keyMiss;
  }

  /** Calls `fn` synchronously with data key `version` when cached; otherwise returns `keyMiss`. */
  cachedVersion<T>(orgId: string, version: number, fn: (key: Buffer) => T): T | KeyMiss {
    const key = this.#cache.get(cacheId(orgId, 'data', version));
    return key ? fn(key) : keyMiss;
  }

  /**
   * Calls `fn` synchronously with the blind-index key of `column` (schema.table.column) when
   * it is cached; otherwise returns `keyMiss`.
   */
  cachedIndexKey<T>(orgId: string, column: string, fn: (key: Buffer) => T): T | KeyMiss {
    const key = this.#cache.get(indexKeyId(orgId, column));
    return key ? fn(key) : keyMiss;
  }

  /**
   * Calls `fn` with the blind-index key of `column`, derived from the organization's index
   * root (created on first use). Derived keys are cached like unwrapped ones (bounded, expiring,
   * zeroed on eviction, dropped by `forget`), except when the root was created in the caller's
   * transaction, which may still roll back.
   */
  async withIndexKey<T>(
    q: Queryable,
    orgId: string,
    column: string,
    fn: (key: Buffer) => T,
  ): Promise<T> {
    const hit = this.cachedIndexKey(orgId, column, fn);
    if (hit !== keyMiss) return hit;
    const derive = (root: Buffer) => deriveIndexKey(root, column);
    return this.#withDerived(q, orgId, indexKeyId(orgId, column), derive, fn);
  }

  /** Calls `fn` synchronously with the idempotency request-hash key when cached. */
  cachedRequestHashKey<T>(orgId: string, fn: (key: Buffer) => T): T | KeyMiss {
    const key = this.#cache.get(requestHashKeyId(orgId));
    return key ? fn(key) : keyMiss;
  }

  /**
   * Calls `fn` with the organization's key for idempotency request hashes, derived from its
   * index root like a blind-index key (and cached the same way) under a label of its own.
   */
  async withRequestHashKey<T>(q: Queryable, orgId: string, fn: (key: Buffer) => T): Promise<T> {
    const hit = this.cachedRequestHashKey(orgId, fn);
    if (hit !== keyMiss) return hit;
    return this.#withDerived(q, orgId, requestHashKeyId(orgId), deriveRequestHashKey, fn);
  }

  /** Calls `fn` synchronously with the recovery-code key when cached. */
  cachedRecoveryCodeKey<T>(orgId: string, fn: (key: Buffer) => T): T | KeyMiss {
    const key = this.#cache.get(recoveryCodeKeyId(orgId));
    return key ? fn(key) : keyMiss;
  }

  /**
   * Calls `fn` with the organization's key for recovery-code hashes, derived from its index
   * root under a label of its own and cached like the request-hash key.
   */
  async withRecoveryCodeKey<T>(q: Queryable, orgId: string, fn: (key: Buffer) => T): Promise<T> {
    const hit = this.cachedRecoveryCodeKey(orgId, fn);
    if (hit !== keyMiss) return hit;
    return this.#withDerived(q, orgId, recoveryCodeKeyId(orgId), deriveRecoveryCodeKey, fn);
  }

  /** Derives a key from the index root and caches it under `id`, no longer than the root. */
  #withDerived<T>(
    q: Queryable,
    orgId: string,
    id: string,
    derive: (root: Buffer) => Buffer,
    fn: (key: Buffer) => T,
  ): Promise<T> {
    return this.withIndexRoot(q, orgId, (root) => {
      const key = derive(root);
      // The derived key lives no longer than the cached root it came from, so the TTL bound on
      // reading after a shred in another process holds for it too.
      const rootExpires = this.#cache.expiresIfHolding(cacheId(orgId, 'index', 1), root);
      try {
        return fn(key);
      } finally {
        if (rootExpires === undefined) key.fill(0);
        else this.#cache.set(id, key, rootExpires);
      }
    });
  }

  /** Calls `fn` with data key `version` of the organization (any status but destroyed). */
  async withVersion<T>(
    q: Queryable,
    orgId: string,
    version: number,
    fn: (key: Buffer) => T,
  ): Promise<T> {
    const key = this.#cache.get(cacheId(orgId, 'data', version));
    if (key) return fn(key);
    const epoch = this.#epochOf(orgId);
    const row = await findKeyVersion(q, orgId, version);
    if (!row) throw new WardError('key_not_found', undefined, { version });
    // A retired version still decrypts: `retireKey` counts the values under it without
    // blocking writers, so a transaction that encrypted with it just before the rotation and
    // committed after the count leaves a value only it can open; refusing it would lose that
    // value for good (a rewrap then moves it). Only a destroyed version is refused (#withRow).
    return this.#withRow(orgId, 'data', row, epoch, fn);
  }

  /** Calls `fn` with the organization's blind-index root, creating it on first use. */
  async withIndexRoot<T>(q: Queryable, orgId: string, fn: (root: Buffer) => T): Promise<T> {
    const key = this.#cache.get(cacheId(orgId, 'index', 1));
    if (key) return fn(key);
    const epoch = this.#epochOf(orgId);
    const row = await findIndexKey(q, orgId);
    if (!row) {
      const root = randomBytes(keyBytes);
      const wrapped = await this.kek.current.wrap(root, { orgId, purpose: 'index', version: 1 });
      if (await insertIndexKey(q, orgId, wrapped, this.kek.current.id, currentNormalization)) {
        try {
          return fn(root);
        } finally {
          root.fill(0);
        }
      }
      root.fill(0);
      return this.withIndexRoot(q, orgId, fn);
    }
    return this.#withRow(
      orgId,
      'index',
      { version: 1, wrapped_key: row.wrapped_key, kek_id: row.kek_id, status: 'active' },
      epoch,
      fn,
    );
  }

  /** Unwraps a key wrapped under any configured KEK (current or previous). */
  async unwrap(
    wrapped: Buffer,
    kekId: string,
    ctx: { orgId: string; purpose: KeyPurpose; version: number },
  ): Promise<Buffer> {
    return this.providerFor(kekId).unwrap(wrapped, ctx);
  }

  /** The configured provider with id `kekId`; refuses clearly when none matches. */
  providerFor(kekId: string): KekProvider {
    const p = [this.kek.current, ...this.kek.previous].find((k) => k.id === kekId);
    if (!p) {
      throw new WardError(
        'kek_unavailable',
        `Keys are wrapped under KEK ${kekId}, but the configured KEK is ${this.kek.current.id}. ` +
          'Configure the matching key (or set it as WARD_PREVIOUS_MASTER_KEY while rotating).',
        { kekId },
      );
    }
    return p;
  }

  /**
   * Forgets (and zeroes) every cached key of an organization, e.g. after shredding (in this
   * process, or in another one: see key-events.ts). Unwraps in flight are not cached.
   */
  forget(orgId: string): void {
    const org = orgKey(orgId);
    this.#orgEpochs.set(org, (this.#orgEpochs.get(org) ?? 0) + 1);
    this.#primary.delete(org);
    this.#cache.dropPrefix(`${org}/`);
  }

  /**
   * Forgets every cached key (after rotation, on shutdown, and when the key event listener
   * reconnects). Unwraps in flight are not cached.
   */
  clear(): void {
    this.#epoch++;
    this.#primary.clear();
    this.#cache.clear();
  }

  #epochOf(orgId: string): number {
    return this.#epoch + (this.#orgEpochs.get(orgKey(orgId)) ?? 0);
  }

  async #withRow<T>(
    orgId: string,
    purpose: KeyPurpose,
    row: { version: number; wrapped_key: Buffer | null; kek_id: string; status: string },
    epoch: number,
    fn: (key: Buffer, version: number) => T,
  ): Promise<T> {
    if (row.status === 'destroyed' || row.wrapped_key === null) {
      throw new WardError('key_destroyed', undefined, { version: row.version });
    }
    const id = cacheId(orgId, purpose, row.version);
    const wrapped = row.wrapped_key;
    let pending = this.#unwrapping.get(id);
    if (!pending) {
      const unwrapping = this.unwrap(wrapped, row.kek_id, {
        orgId,
        purpose,
        version: row.version,
      }).then((key) => {
        // Forgotten since the row was read (a shred may have committed): the waiters use the
        // key this once, then it is zeroed; it never enters the cache.
        if (this.#epochOf(orgId) !== epoch) {
          setImmediate(() => key.fill(0));
          return { key, cached: false };
        }
        this.#cache.set(id, key);
        return { key, cached: true };
      });
      pending = unwrapping;
      this.#unwrapping.set(id, unwrapping);
      void unwrapping
        .catch(() => undefined)
        .finally(() => {
          if (this.#unwrapping.get(id) === unwrapping) this.#unwrapping.delete(id);
        });
    }
    const done = await pending;
    const key = done.cached ? this.#cache.get(id) : done.key;
    if (!key) throw new WardError('internal', 'an unwrapped key was evicted before use');
    return fn(key, row.version);
  }
}

// Organization ids are UUIDs, which PostgreSQL compares case-insensitively: a shred or retire
// typed as `--org 3F2A…` destroys the keys that requests cached as `3f2a…`. Every map here is
// keyed by the lower-case form, so `forget` reaches them whatever spelling it was given.
function orgKey(orgId: string): string {
  return orgId.toLowerCase();
}

function cacheId(orgId: string, purpose: KeyPurpose, version: number): string {
  return `${orgKey(orgId)}/${purpose}/${version}`;
}

// Under the organization's prefix, so `forget` (shredding) drops derived keys with the rest.
function indexKeyId(orgId: string, column: string): string {
  return `${orgKey(orgId)}/bidx/${column}`;
}

function requestHashKeyId(orgId: string): string {
  return `${orgKey(orgId)}/idempotency`;
}

function recoveryCodeKeyId(orgId: string): string {
  return `${orgKey(orgId)}/recovery-code`;
}
