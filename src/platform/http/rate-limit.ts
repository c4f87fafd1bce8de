import { WardError } from '../errors.ts';

/** How a token bucket refills: `burst` requests at once, then `perMinute` on average. */
export interface RateLimitRule {
  readonly burst: number;
  readonly perMinute: number;
}

/** The limiter's verdict for one request. */
export interface RateLimitResult {
  readonly allowed: boolean;
  /** Whole seconds until one token is available again (0 when allowed). */
  readonly retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets keyed by client (an IP, a principal id). Memory is bounded: past `maxKeys`
 * the least recently used bucket is dropped (a dropped key starts again with a full bucket,
 * which errs towards admitting a quiet client rather than growing without bound).
 */
export class RateLimiter {
  readonly #rule: RateLimitRule;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(rule: RateLimitRule, maxKeys = 50_000) {
    if (rule.burst < 1 || rule.perMinute <= 0) throw new RangeError('invalid rate limit rule');
    this.#rule = rule;
    this.#maxKeys = maxKeys;
  }

  /** Takes one token for `key`; never throws. */
  take(key: string, now = Date.now()): RateLimitResult {
    const { burst, perMinute } = this.#rule;
    const perMs = perMinute / 60_000;
    const prev = this.#buckets.get(key);
    const bucket = prev ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    bucket.at = now;
    // Re-insert so Map order is least-recently-used first.
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
    };
  }

  /** Takes a token or throws `rate_limited` carrying the Retry-After value. */
  enforce(key: string, now = Date.now()): void {
    const r = this.take(key, now);
    if (!r.allowed) {
      throw new WardError('rate_limited', undefined, { retryAfterSeconds: r.retryAfterSeconds });
    }
  }

  /** How many clients are tracked (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Reads a rule from `<prefix>_BURST` / `<prefix>_PER_MINUTE`; `0` per minute disables it. */
export function ruleFromEnv(
  env: NodeJS.ProcessEnv,
  prefix: string,
  fallback: RateLimitRule,
): RateLimitRule | undefined {
  const perMinute = Number(env[`${prefix}_PER_MINUTE`] ?? fallback.perMinute);
  const burst = Number(env[`${prefix}_BURST`] ?? fallback.burst);
  if (!Number.isFinite(perMinute) || perMinute < 0 || !Number.isInteger(burst) || burst < 1) {
    throw new WardError(
      'config_invalid',
      `${prefix}_PER_MINUTE and ${prefix}_BURST must be positive numbers`,
    );
  }
  return perMinute === 0 ? undefined : { burst, perMinute };
}
