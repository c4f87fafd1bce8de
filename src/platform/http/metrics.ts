import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from '../db/index.ts';
import { bearerCredentials } from './authorization.ts';
import { clientBucket, RateLimiter, type RateLimitRule } from './rate-limit.ts';
import { problem } from './schemas.ts';
import { WardError } from '../errors.ts';

/** How /metrics is exposed. */
export interface MetricsOptions {
  /** When set, scrapes must send `Authorization: Bearer <token>` (WARD_METRICS_TOKEN). */
  readonly token?: string | undefined;
}

/**
 * Failed token attempts a client address (an IPv6 client by its /64) may make: 10 at once,
 * then 10 a minute. /metrics is outside the per-IP API limit (scrapes come from
 * infrastructure), so without this the token could be guessed at line rate.
 */
export const metricsTokenFailureLimit: RateLimitRule = { burst: 10, perMinute: 10 };

/**
 * Registers Prometheus metrics and `GET /metrics`. Requests are labelled by route template
 * (`/api/v1/users/:id`), method and status — never by raw URL, which could carry identifiers.
 * Each app has its own registry, so several apps in one process (tests) do not collide.
 */
export function registerMetrics(
  app: FastifyInstance,
  db: Database,
  opts: MetricsOptions = {},
): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ward_' });
  const labelNames = ['method', 'route', 'status_code'] as const;
  const requests = new Counter({
    name: 'ward_http_requests_total',
    help: 'HTTP requests by route template and status',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ward_http_request_duration_seconds',
    help: 'HTTP request latency by route template and status',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'ward_db_pool_connections',
    help: 'Database pool connections by state (PostgreSQL engine only)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = db.poolStats();
      if (!stats) return;
      this.set({ state: 'total' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });

  app.addHook('onResponse', async (req, reply) => {
    // Unmatched requests share one label so that probing random paths cannot grow the series.
    const route = req.routeOptions.url ?? 'unmatched';
    const labels = { method: req.method, route, status_code: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  const expected = opts.token ? Buffer.from(opts.token) : undefined;
  const failures = new RateLimiter(metricsTokenFailureLimit);
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        description:
          'With WARD_METRICS_TOKEN set, a bearer token is required; after 10 failed attempts from one address (then 10 a minute) every attempt from it is 429 with Retry-After.',
        response: { 200: { type: 'string' }, 401: problem, 429: problem },
      },
    },
    async (req, reply) => {
      if (expected) {
        // Only failures are charged, but once a client has used them up every attempt is
        // refused, the right token included, so the answer tells a guesser nothing.
        const client = clientBucket(req.ip);
        const limited = failures.peek(client);
        if (!limited.allowed) {
          throw new WardError('rate_limited', undefined, {
            retryAfterSeconds: limited.retryAfterSeconds,
          });
        }
        const given = Buffer.from(bearerCredentials(req.headers.authorization) ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          failures.take(client);
          throw new WardError('unauthenticated');
        }
      }
      reply.type(registry.contentType);
      return registry.metrics();
    },
  );
  return registry;
}
