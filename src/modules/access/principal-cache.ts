import type { ParsedToken } from '../auth/tokens.ts';
import { confirmationBasis, type ConfirmationBasis } from './confirmation.ts';
import type { Principal } from './principal.ts';

/** A principal as the database last authenticated it, and what confirming it compares. */
export interface KnownPrincipal {
  /** The principal derived from the full authentication's row, without a purpose of use (that is per request). */
  readonly principal: Principal;
  /** The values the confirming statement compares with the database. */
  readonly basis: ConfirmationBasis;
}

interface Entry extends KnownPrincipal {
  readonly until: number;
}

/**
 * The principals this server authenticated recently, by token. An entry is never a reason to
 * trust a request: it only lets the request's transaction *confirm* the principal
 * (src/modules/access/confirmation.ts, in the same write as the request's first statement)
 * instead of awaiting a full authentication before the handler can start. The database runs
 * every check again and aborts the transaction if anything in the row differs, so a revoked
 * session, a disabled user or a changed role fails the very next request exactly as before;
 * the server then forgets the entry and authenticates in full.
 *
 * Keys include the token's hash, so only the holder of the same secret can hit an entry.
 * Bounded in count (least recently used dropped first) and in age (`ttlMs`, never past the
 * session's or key's own expiry).
 */
export class PrincipalCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { max?: number; ttlMs?: number; now?: () => number } = {}) {
    this.#max = opts.max ?? 10_000;
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The known principal of `token`, if one is cached and still young enough. */
  get(token: ParsedToken): KnownPrincipal | undefined {
    const key = keyOf(token);
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    this.#entries.delete(key);
    if (hit.until <= this.#now()) return undefined;
    this.#entries.set(key, hit);
    return hit;
  }

  /**
   * Remembers a successful full authentication: its `row` and the `principal` derived from it
   * without a purpose of use (failures, and rows without what a confirmation compares, are
   * ignored).
   */
  remember(token: ParsedToken, row: Readonly<Record<string, unknown>>, principal: Principal): void {
    const basis = confirmationBasis(token, row);
    if (!basis) return;
    const expires = row['expires_at'];
    const now = this.#now();
    const until = Math.min(
      now + this.#ttlMs,
      expires instanceof Date ? expires.getTime() : now + this.#ttlMs,
    );
    if (until <= now) return;
    const key = keyOf(token);
    this.#entries.delete(key);
    this.#entries.set(key, { principal, basis, until });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  forget(token: ParsedToken): void {
    this.#entries.delete(keyOf(token));
  }
}

function keyOf(token: ParsedToken): string {
  return `${token.kind}:${token.orgId}:${token.id}:${token.hash.toString('base64')}`;
}

/** SQLSTATE raised by ward.refuse_principal when a confirmation finds the principal changed. */
export const confirmFailedCode = 'WA401';

/** True for the database's "authenticate again" answer to a confirming opening. */
export function isConfirmFailure(e: unknown): boolean {
  return (
    typeof e === 'object' && e !== null && (e as { code?: unknown }).code === confirmFailedCode
  );
}
