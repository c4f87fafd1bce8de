import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyInstance,
  type FastifyPluginAsync,
} from 'fastify';
import type { Database } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { WardError } from '../errors.ts';
import { registerMetrics, type MetricsOptions } from './metrics.ts';
import { registerOpenApi } from './openapi.ts';
import { trustedPeer } from './client-address.ts';
import { clientBucket, RateLimiter, type RateLimitRule } from './rate-limit.ts';
import { parseJsonBody } from './json-body.ts';
import { sendProblem } from './problem.ts';
import './request-context.ts';

/**
 * One log line per request, written when it completes, instead of Fastify's two: the
 * "incoming request" line repeated the same allow-listed fields and cost as much CPU again
 * (the http benchmark's profile). The completion line carries the request's id, method and
 * route template (log.ts serializers), its status and its time.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    req: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) {
      reply.log.error(
        { req, res: reply, err: error, responseTime: reply.elapsedTime },
        'request errored',
      );
    } else {
      reply.log.info({ req, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    }
  }
}

/** What the app factory needs. Nothing here listens on a port. */
export interface AppDeps {
  readonly db: Database;
  readonly logger: Logger;
  /**
   * Cross-cutting plugins registered at the root before any route (their hooks apply to
   * every route): authentication, the audit PHI guard.
   */
  readonly plugins?: readonly FastifyPluginAsync<{ db: Database }>[];
  /** Route plugins contributed by the domain modules, registered under /api/v1. */
  readonly modules?: readonly FastifyPluginAsync[];
  /** Largest accepted JSON body, in bytes. */
  readonly bodyLimit?: number;
  /**
   * How long a JSON body may take to arrive once its request's head has, in milliseconds
   * (WARD_BODY_TIMEOUT_SECONDS; default 30 s). Streamed bodies (image uploads) are not
   * covered: their routes read them with an idle limit of their own.
   */
  readonly bodyTimeoutMs?: number;
  /** Per-client-IP limit applied before authentication (none when omitted). */
  readonly ipRateLimit?: RateLimitRule | undefined;
  /**
   * Addresses and CIDR blocks of the reverse proxies whose `X-Forwarded-For` and
   * `X-Request-Id` are believed (WARD_TRUST_PROXY, client-address.ts); none when omitted, so
   * `req.ip` is the peer and every request id is generated.
   */
  readonly trustProxy?: readonly string[] | undefined;
  /** `GET /metrics` settings; `false` leaves the endpoint out. */
  readonly metrics?: MetricsOptions | false;
}

// Probes and scrapes are cheap and come from infrastructure; they are not rate limited.
const unlimited = new Set(['/healthz', '/readyz', '/metrics']);

const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Builds the HTTP application. Tests call `app.inject()` on it; `ward serve` calls
 * `listen()`. Request ids are generated, or taken from a well-formed `X-Request-Id` sent by
 * a trusted proxy (which may have assigned it upstream), and are echoed back so a client can
 * correlate its request with audit events and logs.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // A client's own X-Request-Id is never taken: it would let it reuse another request's id
  // and make two requests one in the audit trail and the logs.
  const fromProxy = trustedPeer(deps.trustProxy);
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 1_048_576,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' &&
        requestIdPattern.test(given) &&
        fromProxy(req.socket.remoteAddress)
        ? given
        : randomUUID();
    },
    // Only listed proxies: `req.ip` is then the address the nearest trusted proxy saw, and a
    // client's own X-Forwarded-For entries are never taken (rate limits, login throttle, audit).
    trustProxy: deps.trustProxy && deps.trustProxy.length > 0 ? [...deps.trustProxy] : false,
    // Fastify's own 503 while closing is plain JSON without the headers below; the onRequest
    // hook answers it as problem+json instead (`shutting_down`).
    return503OnClosing: false,
    logController: new OneLinePerRequest(),
    // Bodies go through parseJsonBody (json-body.ts), which refuses prototype-polluting and
    // duplicate keys, NUL and deep nesting; these only keep Fastify's own parser strict too.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors Fastify raises before routing (a malformed %-escape in the URL, a path parameter
    // over maxParamLength, a failed async constraint) skip every hook: answer them as
    // problem+json with the usual headers, and never echo the URL (it may carry an identifier).
    frameworkErrors: (e, req, reply) => {
      securityHeaders(req, reply);
      void sendProblem(e, req, reply);
    },
    ajv: { customOptions: { removeAdditional: false, allErrors: false, coerceTypes: false } },
  });

  // Shutdown (`ward serve` on SIGTERM): app.close() waits for every open connection, so a
  // keep-alive connection must not outlive its last answer — left alone it idles for the
  // keep-alive timeout (72 s), past any orchestrator's grace period. Requests that still
  // arrive (pipelined on an open connection) are refused; the ones in flight finish.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (_req, _reply, done) => {
    // A response whose headers went out before the shutdown began still said keep-alive.
    if (closing) app.server.closeIdleConnections();
    done();
  });

  app.addHook('onRequest', async (req, reply) => {
    securityHeaders(req, reply);
    if (closing) {
      reply.header('connection', 'close');
      throw new WardError('shutting_down');
    }
    // NUL has no place in a path or query parameter, and PostgreSQL would refuse it in text:
    // one substring search of the raw URL covers every parameter (%00 is its only spelling
    // after Node's parser, which refuses raw control characters).
    if (req.url.includes('%00') || req.url.includes('\0')) {
      throw new WardError('validation_failed', 'The URL contains a NUL character');
    }
  });
  if (deps.ipRateLimit) {
    const limiter = new RateLimiter(deps.ipRateLimit);
    app.addHook('onRequest', (req, _reply, done) => {
      try {
        if (!unlimited.has(req.routeOptions.url ?? ''))
          limiter.enforce(`ip:${clientBucket(req.ip)}`);
        done();
      } catch (e) {
        done(e as Error);
      }
    });
  }
  // A JSON body is buffered whole before it is parsed, so a client trickling one would hold
  // its connection, a handler slot and any shutdown (app.close() waits for it) for as long
  // as it likes: Fastify's requestTimeout is 0, and Node's would cut streamed image uploads
  // too, which have an idle limit of their own. So JSON bodies get a deadline here, answered
  // 408 `request_timeout` on a closed connection (a client that stopped sending would not
  // read on anyway). A body already complete when parsing starts needs no timer.
  const bodyTimeoutMs = deps.bodyTimeoutMs ?? 30_000;
  app.addHook('preParsing', (req, reply, payload, done) => {
    if (req.raw.complete || !isJsonMediaType(req.headers['content-type'])) {
      done(null, payload);
      return;
    }
    const timed = new PassThrough();
    const timer = setTimeout(() => {
      payload.unpipe(timed);
      reply.header('connection', 'close');
      timed.destroy(
        new WardError(
          'request_timeout',
          `The request body did not arrive within ${bodyTimeoutMs / 1000} s`,
        ),
      );
    }, bodyTimeoutMs);
    const stop = () => {
      clearTimeout(timer);
    };
    timed.once('end', stop);
    reply.raw.once('close', stop);
    // After the parser stopped listening (a body over the limit), a late error has no reader.
    timed.on('error', stop);
    payload.once('error', (e) => {
      timed.destroy(e);
    });
    payload.pipe(timed);
    done(null, timed);
  });
  // The API speaks JSON only; any other body type is a 415, not a string handed to a route.
  app.removeContentTypeParser('text/plain');
  // JSON bodies are scanned before they are parsed: depth, duplicate keys, NUL, poisoning.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    let value: unknown;
    try {
      value = parseJsonBody(body as string);
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    done(null, value);
  });
  // The request-context contract (request-context.ts); the auth module's hook fills it in.
  app.decorateRequest('wardContext', undefined);
  app.setErrorHandler((e, req, reply) => sendProblem(e, req, reply));
  app.setNotFoundHandler((req, reply) => sendProblem(new WardError('not_found'), req, reply));

  app.get('/healthz', { schema: { response: { 200: statusSchema } } }, () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { response: { 200: statusSchema, 503: statusSchema } } },
    async (req, reply) => {
      try {
        await deps.db.ping();
        return { status: 'ready' };
      } catch (e) {
        req.log.warn({ err: e }, 'database not ready');
        return reply.status(503).send({ status: 'database unavailable' });
      }
    },
  );

  if (deps.metrics !== false) registerMetrics(app, deps.db, deps.metrics ?? {});
  await registerOpenApi(app);
  for (const plugin of deps.plugins ?? []) {
    await app.register(plugin, { db: deps.db });
  }
  for (const mod of deps.modules ?? []) {
    await app.register(mod, { prefix: '/api/v1' });
  }
  return app;
}

/** Whether a Content-Type header names JSON (the media type, as Fastify picks its parser). */
function isJsonMediaType(header: string | undefined): boolean {
  return header?.split(';', 1)[0]?.trim().toLowerCase() === 'application/json';
}

/** The headers every response carries, including errors raised before any hook runs. */
function securityHeaders(req: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', req.id);
  reply.header('cache-control', 'no-store');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
}

const statusSchema = {
  type: 'object',
  properties: { status: { type: 'string' } },
  required: ['status'],
  additionalProperties: false,
} as const;
