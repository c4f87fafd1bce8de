import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { WardError } from '../../platform/errors.ts';
import { sendProblem, toWardError } from '../../platform/http/problem.ts';
import { recordDetached } from '../audit/record.ts';
import { runTracked } from '../audit/request-tracker.ts';
import { parseToken, type ParsedToken } from '../auth/tokens.ts';
import { bearerCredentials } from '../../platform/http/authorization.ts';
import { authenticationStatement } from './confirmation.ts';
import { principalFromRow, type AuthFailure } from './principal-row.ts';
import type { SecuredDeps } from './secured-route.ts';

// A secured route answers 401 before it says anything else about a request: an unauthenticated
// caller must not learn a protected route's body schema, path formats or accepted purposes from
// a 400. The pipeline authenticates inside the request transaction, pipelined with the
// handler's first statement (secured-route.ts, docs/BENCHMARKS.md "Confirmed principals"), so
// moving authentication in front of Fastify's validation would cost every request a round trip.
// Instead nothing changes for a request that passes validation, and only a request refused
// before its handler runs (schema, JSON, size, media type, X-Purpose-Of-Use) is authenticated,
// in a transaction of its own, before its refusal goes out: a failed authentication turns the
// refusal into a 401. Authentication still runs once per request: either here or in the
// pipeline, never both.

/** The route a refusal is recorded against. */
export interface RouteName {
  readonly url: string;
  readonly method: string;
}

/** Tokens already parsed (and their secret hashed) for a request: its hook and its handler. */
const parsed = new WeakMap<FastifyRequest, ParsedToken | undefined>();

/**
 * Reads `Authorization: Bearer <token>` (scheme in any case, RFC 9110 §11.1) into a session or
 * API-key token, once per request.
 */
export function bearerToken(req: FastifyRequest): ParsedToken | undefined {
  if (parsed.has(req)) return parsed.get(req);
  const credentials = bearerCredentials(req.headers.authorization);
  const t = credentials === undefined ? undefined : parseToken(credentials);
  const token = t && (t.kind === 'session' || t.kind === 'api_key') ? t : undefined;
  parsed.set(req, token);
  return token;
}

/** What the audit trail records of the client (the user agent, bounded). */
export function clientOf(req: FastifyRequest): { ip: string; userAgent: string | undefined } {
  const ua = req.headers['user-agent'];
  return { ip: req.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined };
}

/**
 * Records a refused authentication (`auth.request`, outcome 4) in its own transaction: no
 * token, a malformed one, or the reason the database gave. The organization a token names is
 * only trusted, and the event written into its chain, once a session or key was found there.
 */
export async function recordAuthenticationFailure(
  deps: Pick<SecuredDeps, 'db'>,
  req: FastifyRequest,
  route: RouteName,
  token: ParsedToken | undefined,
  failure: AuthFailure | undefined,
): Promise<void> {
  const reason =
    failure?.failure ?? (req.headers.authorization ? 'malformed_token' : 'missing_token');
  const known = token && failure && reason !== 'unknown_session' && reason !== 'unknown_key';
  await recordDetached(
    deps.db,
    known
      ? {
          orgId: token.orgId,
          actorType: token.kind === 'api_key' ? 'agent' : 'user',
          requestId: req.id,
        }
      : undefined,
    {
      action: 'E',
      eventType: 'auth.request',
      outcome: '4',
      outcomeReason: reason,
      ...(failure?.userId ? { actorId: failure.userId } : {}),
      ...clientOf(req),
      metadata: { route: route.url, method: route.method },
    },
  );
}

/**
 * Authenticates the request's token in a transaction of its own and returns the 401 to answer
 * instead when there is no valid principal (the failure recorded), or undefined when there is
 * one (then the caller's own refusal stands). Counts against the principal's rate limit like
 * any other request of theirs.
 */
export async function authenticationRefusal(
  deps: SecuredDeps,
  req: FastifyRequest,
  route: RouteName,
): Promise<WardError | undefined> {
  const token = bearerToken(req);
  if (!token) {
    await recordAuthenticationFailure(deps, req, route, undefined, undefined);
    return new WardError('unauthenticated');
  }
  const ctx = {
    orgId: token.orgId,
    actorType: token.kind === 'api_key' ? ('agent' as const) : ('user' as const),
    requestId: req.id,
  };
  const outcome = await deps.db.withAuthenticatedContext(
    ctx,
    authenticationStatement(token),
    (_tx, row) => Promise.resolve({ row, result: principalFromRow(row, token, undefined) }),
  );
  if ('failure' in outcome.result) {
    await recordAuthenticationFailure(deps, req, route, token, outcome.result);
    return new WardError('unauthenticated');
  }
  const p = outcome.result.principal;
  if (outcome.row) deps.principals?.remember(token, outcome.row, p);
  deps.limiter?.enforce(`${p.orgId}:${p.userId}`);
  return undefined;
}

/** Requests whose secured handler has started: they authenticate in the pipeline. */
const started = new WeakSet<FastifyRequest>();

/** Marks a request as handled by the pipeline, which authenticates it itself. */
export function markStarted(req: FastifyRequest): void {
  started.add(req);
}

/** Refusals that wait for authentication: a client error, not about the client's rate or clock. */
function authenticatesFirst(e: WardError): boolean {
  return e.status >= 400 && e.status < 500 && ![401, 408, 429].includes(e.status);
}

/**
 * The hooks that put authentication first on a secured route: `onRequest` answers a request
 * without a well-formed bearer token 401 before its body is even read; `errorHandler` holds
 * any other refusal raised before the handler (schema validation, body parsing and limits)
 * until the token is authenticated, and answers 401 instead when it is not.
 */
export function authenticateFirst(
  deps: SecuredDeps,
  route: RouteName,
): {
  onRequest: (req: FastifyRequest, reply: FastifyReply, done: (e?: Error) => void) => void;
  errorHandler: (e: FastifyError, req: FastifyRequest, reply: FastifyReply) => void;
} {
  const tracked = <T>(req: FastifyRequest, fn: () => Promise<T>) =>
    runTracked(req.auditTracker ?? { recorded: 0, detached: 0 }, fn);
  return {
    onRequest(req, _reply, done) {
      if (bearerToken(req)) {
        done();
        return;
      }
      tracked(req, () => recordAuthenticationFailure(deps, req, route, undefined, undefined)).then(
        () => {
          done(new WardError('unauthenticated'));
        },
        (e: unknown) => {
          done(e instanceof Error ? e : new Error('recording the refusal failed'));
        },
      );
    },
    errorHandler(e, req, reply) {
      if (started.has(req) || !authenticatesFirst(toWardError(e))) {
        sendProblem(e, req, reply);
        return;
      }
      tracked(req, () => authenticationRefusal(deps, req, route)).then(
        (refusal) => {
          sendProblem(refusal ?? e, req, reply);
        },
        // The authentication itself failed (the database, the principal's rate limit): that
        // is the answer, and it says nothing about the route's input either.
        (failure: unknown) => {
          sendProblem(failure, req, reply);
        },
      );
    },
  };
}
