import type { RequestContext } from '../db/index.ts';

/**
 * What the HTTP layer knows about an authenticated request: the access pipeline
 * (modules/access/secured-route.ts) sets `request.wardContext` once the principal is
 * established inside the request transaction, so that platform hooks (the audit module's PHI
 * guard) can attribute a failed request to its tenant and actor. Routes themselves receive
 * the principal from the pipeline and never read this.
 */
declare module 'fastify' {
  interface FastifyRequest {
    wardContext: RequestContext | undefined;
  }
  interface FastifyContextConfig {
    /** The route reads or writes PHI: it must record an audit event or it fails. */
    phi?: boolean;
  }
}
