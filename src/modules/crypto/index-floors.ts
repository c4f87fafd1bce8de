import type { Queryable } from '../../platform/db/index.ts';
import { currentNormalization } from './normalize.ts';
import { findIndexFloor } from './keys-repo.ts';

/** Most (organization, column) floors remembered; past it the cache starts over. */
const maxEntries = 10_000;

/**
 * The normalization floor of each organization's blind-index columns (`findIndexFloor`), as
 * search needs it, cached per process. A floor only ever rises (a completed reindex raises
 * it), so a cached value can only be too low, which makes a search try one form too many and
 * never miss a row: a floor below the current version is re-read after `ttlMs`, a current one
 * is kept. Reads go through the caller's transaction, so RLS decides what a request may see.
 */
export class IndexFloors {
  readonly #cache = new Map<string, { floor: number; expires: number }>();
  readonly #ttlMs: number;

  constructor(ttlMs = 30_000) {
    this.#ttlMs = ttlMs;
  }

  /** The oldest normalization version a stored index of `column` may have (see keys-repo). */
  async floor(q: Queryable, orgId: string, column: string): Promise<number> {
    const id = `${orgId.toLowerCase()}/${column}`;
    const hit = this.#cache.get(id);
    if (hit && (hit.floor >= currentNormalization || hit.expires > Date.now())) return hit.floor;
    const floor = await findIndexFloor(q, orgId, column);
    // No index root yet: nothing is stored in any form. Not cached: the root may be created by
    // a process that computes with an older version.
    if (floor === undefined) return currentNormalization;
    if (this.#cache.size >= maxEntries) this.#cache.clear();
    this.#cache.set(id, { floor, expires: Date.now() + this.#ttlMs });
    return floor;
  }

  /** Forgets an organization's floors (after its reindex completed in this process). */
  forget(orgId: string): void {
    const prefix = `${orgId.toLowerCase()}/`;
    for (const id of this.#cache.keys()) if (id.startsWith(prefix)) this.#cache.delete(id);
  }
}
