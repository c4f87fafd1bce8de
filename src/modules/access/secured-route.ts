import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { isUuid, type Database, type Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import type { RateLimiter } from '../../platform/http/rate-limit.ts';
import {
  etagFor,
  requireIfMatch,
  rowVersion,
  type VersionedTable,
} from '../../platform/http/etag.ts';
import { problem } from '../../platform/http/schemas.ts';
import {
  claimKey,
  completeKey,
  idempotencyKeyOf,
  requestText,
  type RequestHasher,
} from '../../platform/http/idempotency.ts';
import {
  recordAndCommit,
  recordDetached,
  recordThen,
  type AuditEventInput,
} from '../audit/record.ts';
import { runTracked, type AuditTracker } from '../audit/request-tracker.ts';
import {
  authenticateFirst,
  authenticationRefusal,
  bearerToken,
  clientOf,
  markStarted,
  recordAuthenticationFailure,
} from './authenticate-first.ts';
import { authenticationStatement, confirmationStatement } from './confirmation.ts';
import { evaluate, type AccessRequest, type Decision } from './evaluator.ts';
import type { PolicyCache } from './policy-cache.ts';
import { isConfirmFailure, type PrincipalCache } from './principal-cache.ts';
import { principalFromRow, type AuthFailure } from './principal-row.ts';
import type { Principal } from './principal.ts';
import { parsePurpose, type PurposeCode } from './purposes.ts';

/** What secured routes share. */
export interface SecuredDeps {
  readonly db: Database;
  readonly policies: PolicyCache;
  /** Per-principal rate limit, checked right after authentication (none when omitted). */
  readonly limiter?: RateLimiter | undefined;
  /**
   * Recently authenticated principals: a request whose token is here confirms its principal in
   * the opening of its transaction instead of awaiting a full authentication (none when
   * omitted: every request authenticates in full).
   */
  readonly principals?: PrincipalCache | undefined;
  /**
   * The keyed hash stored with an `Idempotency-Key` (per organization, from the crypto
   * module), so the stored value reveals nothing about a body that carries PHI.
   */
  readonly requestHash: RequestHasher;
  /**
   * Whether a patient id names a patient of the request's organization (RLS scopes the query).
   * A refusal records the patient it was about only when it does: an id of another tenant, or of
   * nobody, is not written into the organization's trail as if it were one of its patients.
   * Without it, refusals name no patient.
   */
  readonly patientExists?: ((tx: Tx, patientId: string) => Promise<boolean>) | undefined;
}

/** What a secured handler receives: everything runs inside the request's one transaction. */
export interface RouteCall<B, P, Q> {
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  readonly tx: Tx;
  readonly principal: Principal;
  readonly decision: Decision;
  readonly body: B;
  readonly params: P;
  readonly query: Q;
  /** Re-evaluates with facts about the target (care team…); throws a 403 on deny. */
  readonly authorize: (request: AccessRequest) => Decision;
  /** Evaluates like `authorize` without throwing or auditing (to filter list items). */
  readonly check: (request: AccessRequest) => Decision;
  /**
   * Records an audit event in this transaction, with the request's IP and user agent. The
   * insert is deferred: it goes out in front of the handler's next statement, in that
   * statement's round trip, or, when none follows, as the transaction's last statement together
   * with COMMIT. Either way it commits exactly when the request's work does, and a failed insert
   * fails the request. A handler whose last statement is `tx.queryAndCommit` records its events
   * before it (then the whole request can be one round trip); recording after it is refused.
   */
  readonly audit: (event: AuditEventInput) => Promise<void>;
  /** What a `staged` route's body was received as (undefined for every other route). */
  readonly staged: unknown;
}

/**
 * A request body that is received outside any transaction (a streamed upload): `receive`
 * consumes it, `discard` undoes whatever `receive` stored when the request fails later.
 */
export interface Staging {
  receive(): Promise<unknown>;
  discard(): Promise<void>;
}

/** A route that requires a principal and a permission. */
export interface SecuredRouteSpec<B, P, Q, R> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly permission: string;
  /** The route touches PHI: it must record an audit event or its transaction rolls back. */
  readonly phi?: boolean;
  /**
   * The path parameter that is a patient's id (`/patients/:id`): a request refused before its
   * handler ran still names the patient in its `access.denied` event, so the patient's access
   * history shows the attempt.
   */
  readonly patientParam?: string;
  readonly status?: number;
  readonly schema: FastifySchema & { response: Record<number | string, unknown> };
  /**
   * The route reads or updates one versioned row: responses carry its `ETag`, and a PATCH,
   * PUT or DELETE requires a matching `If-Match` (checked under the row lock).
   */
  readonly versioned?: VersionedTable & {
    readonly id: (call: { params: P; principal: Principal }) => string;
  };
  /**
   * A create that honours `Idempotency-Key`: the created resource's id is stored with the key
   * in the create's own transaction, and a retry is answered by `replay` re-reading it (so no
   * response body, which could hold PHI, is ever stored). `replay` may throw to refuse.
   */
  readonly idempotent?: {
    readonly idOf: (result: R) => string;
    readonly replay: (call: RouteCall<B, P, Q>, resourceId: string) => Promise<R>;
  };
  /**
   * A streamed body. Holding a transaction (and, on the embedded engine, the one connection)
   * while a client uploads would let one slow client stall the server, so the request runs in
   * two authenticated transactions: `stage` checks access and the target and returns how to
   * receive the body; the body is received with no transaction open; then `handler` runs in
   * the second (re-authenticated, re-authorized) transaction with `call.staged`. If anything
   * after receiving fails, including the commit, the staged body is discarded.
   */
  readonly stage?: (call: RouteCall<B, P, Q>) => Promise<Staging>;
  /**
   * Runs after the request failed with `error` once its principal was established (not for
   * authentication failures or denials), after its transaction rolled back and outside any
   * transaction: for counting failures that must survive the rollback (a wrong current
   * password or authenticator code). If it throws, that error is the request's.
   */
  readonly afterFailure?: (
    error: unknown,
    principal: Principal,
    req: FastifyRequest,
  ) => Promise<void>;
  handler(call: RouteCall<B, P, Q>): Promise<R>;
}

class AuthFailed extends Error {
  constructor(readonly failure: AuthFailure) {
    super('authentication failed');
  }
}

class Denied extends Error {
  constructor(
    readonly decision: Decision,
    readonly principal: Principal,
    /** The patient the refused request was about, when known: its access history shows it. */
    readonly patientId?: string | undefined,
    /** The permission a handler's own `authorize` asked for, when it was not the route's. */
    readonly permission?: string,
  ) {
    super('access denied');
  }
}

/** The patient a request names, if it is a UUID (a malformed value is not recorded). */
function namedPatient(id: unknown): string | undefined {
  return isUuid(id) ? id.toLowerCase() : undefined;
}

const actionFor = { GET: 'R', POST: 'C', PUT: 'U', PATCH: 'U', DELETE: 'D' } as const;

/**
 * Reads `X-Purpose-Of-Use`. A header that is present but not exactly one code Ward accepts
 * (lower case, an alias, spaces, the header twice) is a 400 `invalid_purpose_of_use_header`,
 * never silently ignored or corrected; the answer names the header, never the value sent.
 */
export function purposeOf(req: FastifyRequest): PurposeCode | undefined {
  const raw = req.headers['x-purpose-of-use'];
  if (raw === undefined) return undefined;
  const purpose = typeof raw === 'string' ? parsePurpose(raw) : undefined;
  if (!purpose) throw new WardError('invalid_purpose_of_use_header');
  return purpose;
}

/** A principal derived without a purpose of use, for this request's purpose. */
function withPurpose(principal: Principal, purpose: PurposeCode | undefined): Principal {
  return purpose === undefined ? principal : { ...principal, purpose };
}

/**
 * Registers a route behind the one access pipeline: bearer token → request transaction whose
 * opening round trip authenticates it (ward.authenticate_session / _api_key) → the
 * evaluator → the handler → (PHI routes) the audit guard. A failed authentication or a
 * denial rolls back and is recorded in its own transaction, so it survives. Authentication
 * comes first for every answer: a request refused before its handler runs (no token, schema,
 * body, purpose header) is authenticated before the refusal goes out (authenticate-first.ts).
 */
export function securedRoute<B = unknown, P = unknown, Q = unknown, R = unknown>(
  app: FastifyInstance,
  deps: SecuredDeps,
  spec: SecuredRouteSpec<B, P, Q, R>,
): void {
  const route = { url: spec.url, method: spec.method };
  const first = authenticateFirst(deps, route);
  app.route({
    method: spec.method,
    url: spec.url,
    config: { phi: spec.phi === true },
    onRequest: first.onRequest,
    errorHandler: first.errorHandler,
    // No automatic HEAD twin for PHI routes: it would run the handler, decrypt and record a
    // disclosure whose body is then thrown away.
    ...(spec.phi === true ? { exposeHeadRoute: false } : {}),
    schema: withVersionedDocs(spec),
    handler: (req, reply) => {
      markStarted(req);
      // A route that counts failed credential checks (afterFailure) runs one request per token
      // at a time in this process, its counting included: parallel guesses through one session
      // would otherwise all pass the lock check before the first failure is counted.
      if (spec.afterFailure) {
        const t = bearerToken(req);
        if (t) return oneAtATime(t.id, () => handle(req, reply));
      }
      return handle(req, reply);
    },
  });

  async function handle(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    // Shared with the audit module's PHI guard, so a request's events are counted once,
    // including the detached ones written for failures.
    const tracker: AuditTracker = req.auditTracker ?? { recorded: 0, detached: 0 };
    return runTracked(tracker, async () => {
      const token = bearerToken(req);
      const client = clientOf(req);
      if (!token) {
        // The onRequest hook answered this already; kept so the handler never runs without one.
        await recordAuthenticationFailure(deps, req, route, undefined, undefined);
        throw new WardError('unauthenticated');
      }
      let purpose: PurposeCode | undefined;
      try {
        purpose = purposeOf(req);
      } catch (e) {
        // A bad header is refused only once the caller is known to be someone (401 first).
        throw (await authenticationRefusal(deps, req, route)) ?? e;
      }
      const ctx = {
        orgId: token.orgId,
        actorType: token.kind === 'api_key' ? ('agent' as const) : ('user' as const),
        purpose,
        requestId: req.id,
      };
      // Events recorded in the request transaction vanish if it rolls back: remember the count.
      const recordedBefore = tracker.recorded;
      /** The principal of the latest attempt, for `afterFailure`. */
      let established: Principal | undefined;
      /**
       * One authenticated, authorized request transaction around `body`. A principal this
       * server authenticated recently is confirmed in the transaction's opening, pipelined
       * with the first statement; if the database answers that it changed, that attempt has
       * rolled back without running a statement, and the request is authenticated in full.
       */
      const transaction = async <X>(
        first: boolean,
        staged: unknown,
        body: (c: RouteCall<B, P, Q>, principal: Principal, unwritten: () => number) => Promise<X>,
      ): Promise<X> => {
        let chargeLimiter = first;
        const known = deps.principals?.get(token);
        if (known) {
          const headers = reply.getHeaders();
          const recordedAt = tracker.recorded;
          const principal = withPurpose(known.principal, purpose);
          try {
            return await deps.db.withConfirmedContext(
              { ...ctx, userId: known.basis.userId, sessionId: principal.sessionId },
              confirmationStatement(token, known.basis),
              (rawTx) => inTransaction(rawTx, principal, chargeLimiter, staged, body),
            );
          } catch (e) {
            if (!isConfirmFailure(e)) throw e;
            deps.principals?.forget(token);
            tracker.recorded = recordedAt;
            restoreHeaders(reply, headers);
            chargeLimiter = false;
          }
        }
        return deps.db.withAuthenticatedContext(
          ctx,
          authenticationStatement(token),
          (rawTx, row) => {
            const outcome = principalFromRow(row, token, undefined);
            if ('failure' in outcome) throw new AuthFailed(outcome);
            if (row) deps.principals?.remember(token, row, outcome.principal);
            return inTransaction(
              rawTx,
              withPurpose(outcome.principal, purpose),
              chargeLimiter,
              staged,
              body,
            );
          },
        );
      };
      /** The request's work inside its transaction, once the principal is known. */
      const inTransaction = async <X>(
        rawTx: Tx,
        principal: Principal,
        first: boolean,
        staged: unknown,
        body: (c: RouteCall<B, P, Q>, principal: Principal, unwritten: () => number) => Promise<X>,
      ): Promise<X> => {
        // Events the handler recorded and that are not written yet: they go out in front of
        // the next statement, in the same round trip (so statement order is exactly the
        // handler's), or, at the end, the last of them carries the COMMIT.
        const pending: AuditEventInput[] = [];
        let committed = false;
        const withPending = <T>(statement: () => Promise<T>): Promise<T> =>
          pending.length === 0 ? statement() : recordThen(rawTx, pending.splice(0), statement);
        const tx: Tx = {
          engine: rawTx.engine,
          query<T>(text: string, params?: readonly unknown[]) {
            return withPending(() => rawTx.query<T>(text, params));
          },
          exec(script: string) {
            return withPending(() => rawTx.exec(script));
          },
          // A handler whose last statement commits: its events go out in front of it, and
          // nothing is sent unless the request may end here.
          queryAndCommit<T>(text: string, params?: readonly unknown[]) {
            if (spec.idempotent || spec.versioned) {
              return Promise.reject(
                new Error('queryAndCommit: this route runs statements after its handler'),
              );
            }
            try {
              guardPhi(() => pending.length);
            } catch (e) {
              return Promise.reject(e instanceof Error ? e : new Error('audit guard failed'));
            }
            committed = true;
            return withPending(() => rawTx.queryAndCommit<T>(text, params));
          },
        };
        established = principal;
        if (first) deps.limiter?.enforce(`${principal.orgId}:${principal.userId}`);
        req.wardContext = {
          orgId: principal.orgId,
          userId: principal.userId,
          actorType: principal.actorType,
          sessionId: principal.sessionId,
          purpose: principal.purpose,
          requestId: req.id,
        };
        const policies = await deps.policies.get(tx, principal.orgId, principal.policyVersion);
        const decision = evaluate(principal, { permission: spec.permission }, policies);
        if (!decision.allow) {
          const params = req.params as Record<string, unknown> | undefined;
          const named = spec.patientParam ? params?.[spec.patientParam] : undefined;
          throw new Denied(decision, principal, namedPatient(named));
        }
        // Break-glass opens named patients only: the first decision is provisional until the
        // handler states a target of a patient an emergency session opened.
        const emergency = { patientStated: false };
        const stated = (r: AccessRequest, d: Decision) => {
          if (d.allow && d.breakGlass && r.resource?.patientId !== undefined)
            emergency.patientStated = true;
          return d;
        };
        const value = await body(
          {
            req,
            reply,
            tx,
            principal,
            decision,
            body: req.body as B,
            params: req.params as P,
            query: req.query as Q,
            authorize: (r) => {
              const d = stated(r, evaluate(principal, r, policies));
              if (!d.allow)
                throw new Denied(d, principal, namedPatient(r.resource?.patientId), r.permission);
              return d;
            },
            check: (r) => stated(r, evaluate(principal, r, policies)),
            audit: (event) => {
              if (committed) {
                return Promise.reject(
                  new Error('audit: the transaction has committed; record events before it'),
                );
              }
              pending.push({ ...client, ...event });
              return Promise.resolve();
            },
            staged,
          },
          principal,
          () => pending.length,
        );
        if (decision.breakGlass && !emergency.patientStated) {
          // Fail closed: a handler that never named the patient it read under ETREAT would
          // turn one patient's emergency into access to all of them.
          throw new Denied(
            {
              allow: false,
              reason: 'break_glass_patient_required',
              fields: [],
              breakGlass: false,
              policies: [],
            },
            principal,
          );
        }
        // The request's work is done: its unwritten events go out as the transaction's last
        // statements, the last one carrying the COMMIT. It resolves only once all of them
        // and the commit succeeded, before any response.
        const events = pending.splice(0);
        if (events.length > 0) await recordAndCommit(rawTx, events);
        return value;
      };
      /** `unwritten`: events recorded in the transaction and written at its commit. */
      const guardPhi = (unwritten: () => number) => {
        if (spec.phi && tracker.recorded === 0 && unwritten() === 0) {
          // The guarantee: PHI never leaves without its audit event; the transaction
          // (and so the response) fails instead.
          throw new WardError('audit_not_recorded');
        }
      };
      try {
        let result: R;
        if (spec.stage) {
          const stage = spec.stage;
          const staging = await transaction(true, undefined, (c) => stage(c));
          try {
            const received = await staging.receive();
            result = await transaction(false, received, async (c, _p, unwritten) => {
              const value = await spec.handler(c);
              guardPhi(unwritten);
              return value;
            });
          } catch (e) {
            await staging.discard();
            throw e;
          }
        } else {
          result = await transaction(true, undefined, async (call, principal, unwritten) => {
            const tx = call.tx;
            const versioned = spec.versioned;
            const target = versioned?.id({ params: req.params as P, principal });
            const kind = versioned ? `${versioned.schema}.${versioned.table}` : '';
            if (versioned && target !== undefined && spec.method !== 'GET') {
              const before = await rowVersion(tx, versioned, target, true);
              requireIfMatch(req, etagFor(kind, target, before));
            }
            const idem = spec.idempotent;
            const key = idem ? idempotencyKeyOf(req) : undefined;
            let value: R | undefined;
            if (idem && key !== undefined) {
              const claim = await claimKey(
                tx,
                { orgId: principal.orgId, principalId: principal.userId },
                key,
                `${spec.method} ${req.routeOptions.url ?? spec.url}`,
                await deps.requestHash(
                  tx,
                  principal.orgId,
                  requestText(req.body, req.params as Record<string, unknown> | undefined),
                ),
                spec.status ?? 200,
              );
              if (claim.kind === 'replay') {
                value = await idem.replay(call, claim.resourceId);
                reply.header('idempotent-replayed', 'true');
              } else {
                value = await spec.handler(call);
                await completeKey(tx, principal.userId, key, idem.idOf(value));
              }
            } else {
              value = await spec.handler(call);
            }
            if (versioned && target !== undefined && spec.method !== 'DELETE') {
              const after = await rowVersion(tx, versioned, target, false);
              reply.header('etag', etagFor(kind, target, after));
            }
            guardPhi(unwritten);
            return value;
          });
        }
        if (spec.status) reply.status(spec.status);
        return result;
      } catch (e) {
        if (e instanceof AuthFailed) {
          await recordAuthenticationFailure(deps, req, route, token, e.failure);
          throw new WardError('unauthenticated');
        }
        if (e instanceof Denied) {
          const p = e.principal;
          const denialContext = {
            orgId: p.orgId,
            userId: p.userId,
            actorType: p.actorType,
            sessionId: p.sessionId,
            purpose: p.purpose,
            requestId: req.id,
          };
          const named = e.patientId;
          const exists = deps.patientExists;
          const patientId =
            named !== undefined &&
            exists !== undefined &&
            (await deps.db.withContext(denialContext, (tx) => exists(tx, named)))
              ? named
              : undefined;
          await recordDetached(deps.db, denialContext, {
            action: actionFor[spec.method],
            eventType: 'access.denied',
            outcome: '4',
            outcomeReason: e.decision.reason,
            ...(patientId ? { patientId } : {}),
            ...client,
            metadata: {
              permission: e.permission ?? spec.permission,
              route: spec.url,
              method: spec.method,
              policies: e.decision.policies,
            },
          });
          throw new WardError('forbidden', `Access denied: ${e.decision.reason}`, {
            reason: e.decision.reason,
          });
        }
        // Any other failure rolled the transaction back, and with it the events the handler
        // recorded: uncount them so the PHI guard records the failure in its own transaction.
        tracker.recorded = recordedBefore;
        if (spec.afterFailure && established) await spec.afterFailure(e, established, req);
        throw e;
      }
    });
  }
}

/** Per token id, the tail of the requests running one at a time (see `afterFailure`). */
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for `key` has settled; the map forgets idle keys. */
async function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  const run = before.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  try {
    return await run;
  } finally {
    if (queues.get(key) === tail) queues.delete(key);
  }
}

/** Puts the reply's headers back as they were before an attempt that was rolled back. */
function restoreHeaders(reply: FastifyReply, before: Record<string, unknown>): void {
  for (const name of Object.keys(reply.getHeaders())) {
    if (!(name in before)) reply.removeHeader(name);
  }
  for (const [name, value] of Object.entries(before)) {
    if (value !== undefined) reply.header(name, value);
  }
}

/** Adds the bearer requirement and, for versioned updates, `If-Match`, 412 and 428 to the docs. */
function withVersionedDocs<B, P, Q, R>(spec: SecuredRouteSpec<B, P, Q, R>): FastifySchema {
  const schema: FastifySchema = { ...spec.schema, security: [{ bearer: [] }] };
  if (spec.idempotent) {
    return {
      ...schema,
      headers: {
        type: 'object',
        properties: {
          'idempotency-key': {
            type: 'string',
            pattern: '^[A-Za-z0-9._:~-]{1,128}$',
            description:
              'Retries with the same key and body return the first result (Idempotent-Replayed: true) for 24 h',
          },
        },
      },
      response: { ...spec.schema.response, 422: problem },
    };
  }
  if (!spec.versioned || spec.method === 'GET') return schema;
  return {
    ...schema,
    headers: {
      type: 'object',
      properties: {
        'if-match': {
          type: 'string',
          maxLength: 1024,
          description: 'The ETag from the last read; required (428 without, 412 when stale)',
        },
      },
    },
    response: { ...spec.schema.response, 412: problem, 428: problem },
  };
}
