import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../../platform/db/index.ts';
import { WardError } from '../../../platform/errors.ts';
import { problemFor } from '../../../platform/http/problem.ts';
import { recordDetached, type AuditEventInput } from '../record.ts';
import type { AuditTracker } from '../request-tracker.ts';
import { outcomeForStatus, type AuditAction } from '../vocabulary.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Audit events written for this request (PHI routes only). */
    auditTracker: AuditTracker | undefined;
  }
}

const actionByMethod: Record<string, AuditAction> = {
  GET: 'R',
  HEAD: 'R',
  POST: 'C',
  PUT: 'U',
  PATCH: 'U',
  DELETE: 'D',
};

/**
 * The HTTP half of "no PHI access without an audit event". For routes with
 * `config: { phi: true }`: a response that would succeed although no event was recorded for
 * the request is replaced by a 500 `audit_not_recorded` (and `requestTransaction` rolls its
 * transaction back before that); a failed or denied response with no event gets exactly one,
 * written in its own transaction. Registered at the root so it covers every module's routes.
 */
export const phiGuard: FastifyPluginAsync<{ db: Database }> = (app, opts) => {
  app.decorateRequest('auditTracker', undefined);
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.routeOptions.config.phi === true) req.auditTracker = { recorded: 0, detached: 0 };
    done();
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const tracker = req.auditTracker;
    if (!tracker || tracker.recorded + tracker.detached > 0) return payload;
    if (reply.statusCode < 400) {
      req.log.error({ route: req.routeOptions.url }, 'PHI route answered without an audit event');
      await recordFailure(opts.db, req, reply, 500, 'audit_not_recorded');
      const problem = problemFor(new WardError('audit_not_recorded'), req.id);
      void reply.code(500).type('application/problem+json');
      return JSON.stringify(problem);
    }
    await recordFailure(opts.db, req, reply, reply.statusCode, reasonOf(payload));
    return payload;
  });
  return Promise.resolve();
};
// Like fastify-plugin: hooks added by this plugin apply to the whole app, not a child scope.
Object.assign(phiGuard, { [Symbol.for('skip-override')]: true });

async function recordFailure(
  db: Database,
  req: FastifyRequest,
  _reply: FastifyReply,
  status: number,
  reason: string,
): Promise<void> {
  const event: AuditEventInput = {
    action: actionByMethod[req.method] ?? 'E',
    eventType: status < 500 ? 'http.denied' : 'http.failed',
    outcome: outcomeForStatus(status),
    outcomeReason: reason.slice(0, 200),
    ip: req.ip,
    ...(typeof req.headers['user-agent'] === 'string'
      ? { userAgent: req.headers['user-agent'] }
      : {}),
    ...(req.wardContext ? {} : { actorType: 'user' as const }),
    metadata: { method: req.method, route: req.routeOptions.url ?? '', status },
  };
  try {
    await recordDetached(db, req.wardContext, event);
  } catch (e) {
    // Never hide the original outcome; the failure to audit is logged loudly.
    req.log.error({ err: e }, 'could not record the audit event of a failed PHI request');
  }
}

function reasonOf(payload: unknown): string {
  if (typeof payload !== 'string') return 'error';
  try {
    const p = JSON.parse(payload) as { code?: unknown };
    return typeof p.code === 'string' ? p.code : 'error';
  } catch {
    return 'error';
  }
}
