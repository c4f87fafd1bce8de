import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../db/index.ts';
import { WardError } from '../errors.ts';

/**
 * The contract between authentication and every route: an `onRequest` hook of the auth
 * module sets `request.wardContext` (who acts, for which organization, for what purpose) and
 * `request.wardPermissions` (the `resource:action` permissions the caller holds there) for an
 * authenticated request, and leaves both unset otherwise. Routes never read tokens; they ask
 * for the context through `requireContext` / `requirePermission`, which fail closed.
 */
declare module 'fastify' {
  interface FastifyRequest {
    wardContext: RequestContext | undefined;
    wardPermissions: ReadonlySet<string> | undefined;
  }
  interface FastifyContextConfig {
    /** The route reads or writes PHI: it must record an audit event or it fails. */
    phi?: boolean;
  }
}

/** The authenticated caller's context; 401 when the request is not authenticated. */
export function requireContext(req: FastifyRequest): RequestContext {
  if (!req.wardContext) throw new WardError('unauthenticated');
  return req.wardContext;
}

/** The caller's context if it holds `permission`; 401 unauthenticated, 403 otherwise. */
export function requirePermission(req: FastifyRequest, permission: string): RequestContext {
  const ctx = requireContext(req);
  if (!req.wardPermissions?.has(permission)) {
    throw new WardError('forbidden', `This action requires the ${permission} permission`);
  }
  return ctx;
}
