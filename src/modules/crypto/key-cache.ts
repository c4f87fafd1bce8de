/**
 * A bounded, time-limited cache of unwrapped keys. Evicted and expired keys are overwritten
 * with zeros before they are dropped (Node cannot promise that no copy exists elsewhere, e.g.
 * inside OpenSSL, but the cache does not keep key bytes alive longer than it must).
 */
export class KeyCache {
  readonly #entries = new Map<string, { key: Buffer; expires: number; touched: number }>();
  readonly #max: number;
  readonly #ttlMs: number;

  constructor(max = 1024, ttlMs = 60_000) {
    this.#max = max;
    this.#ttlMs = ttlMs;
  }

  /** The cached key, or undefined when absent or expired. */
  get(id: string): Buffer | undefined {
    const e = this.#entries.get(id);
    if (!e) return undefined;
    const now = Date.now();
    if (e.expires <= now) {
      this.#drop(id);
      return undefined;
    }
    // Re-insert to mark it most recently used — at most once a second per key: the order only
    // has to be right at the granularity of evictions, and hits are on every field's path.
    if (now - e.touched >= 1000) {
      e.touched = now;
      this.#entries.delete(id);
      this.#entries.set(id, e);
    }
    return e.key;
  }

  /**
   * When the entry `id` holds exactly `key` (the same buffer) and is still fresh, its expiry
   * time; otherwise undefined.
   */
  expiresIfHolding(id: string, key: Buffer): number | undefined {
    const e = this.#entries.get(id);
    return e && e.key === key && e.expires > Date.now() ? e.expires : undefined;
  }

  /**
   * Caches `key` (the cache owns it from now on and zeroes it on eviction) until the TTL
   * passes, or until `expires` (epoch ms) when that is sooner.
   */
  set(id: string, key: Buffer, expires?: number): void {
    this.#drop(id);
    const now = Date.now();
    const ttl = now + this.#ttlMs;
    this.#entries.set(id, {
      key,
      expires: expires === undefined ? ttl : Math.min(ttl, expires),
      touched: now,
    });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
  }

  /** Drops and zeroes every entry whose id starts with `prefix`. */
  dropPrefix(prefix: string): void {
    for (const id of [...this.#entries.keys()]) if (id.startsWith(prefix)) this.#drop(id);
  }

  /** Number of cached keys. */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops and zeroes everything. */
  clear(): void {
    for (const id of [...this.#entries.keys()]) this.#drop(id);
  }

  #drop(id: string): void {
    const e = this.#entries.get(id);
    if (!e) return;
    e.key.fill(0);
    this.#entries.delete(id);
  }
}
