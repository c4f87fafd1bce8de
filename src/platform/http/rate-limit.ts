import { isIPv4, isIPv6 } from 'node:net';
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

  /**
   * Whether `key` has a token, without taking it or tracking a new key: for limits that charge
   * only failures but must refuse every attempt once exhausted (a right guess must not answer
   * differently from a wrong one then).
   */
  peek(key: string, now = Date.now()): RateLimitResult {
    const bucket = this.#buckets.get(key);
    if (!bucket) return { allowed: true, retryAfterSeconds: 0 };
    const perMs = this.#rule.perMinute / 60_000;
    const tokens = Math.min(this.#rule.burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    if (tokens >= 1) return { allowed: true, retryAfterSeconds: 0 };
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)),
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

/**
 * The rate-limit bucket of a client address. An IPv6 client is its /64: that is the smallest
 * block a network hands one subscriber (RFC 6177), and any host in it can use every address
 * of it, so per-address buckets would let one client take a fresh bucket for each request.
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, a dual-stack socket) is its IPv4 address.
 */
export function clientBucket(ip: string): string {
  const address = ip.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(address)) return address;
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  let text = address.toLowerCase();
  // A trailing dotted IPv4 part stands for the last two groups.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16).toString(16));
}
