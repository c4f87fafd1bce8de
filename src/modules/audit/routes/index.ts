import type { FastifyInstance } from 'fastify';
import type { SecuredDeps } from '../../access/secured-route.ts';
import { registerGetEventProof } from './get-event-proof.ts';
import { registerListEvents } from './list-events.ts';

/** The audit module's routes (mounted under /api/v1), behind the access pipeline. */
export function registerAuditRoutes(app: FastifyInstance, s: SecuredDeps): void {
  registerListEvents(app, s);
  registerGetEventProof(app, s);
}
