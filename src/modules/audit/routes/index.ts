import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../../../platform/db/index.ts';
import { registerGetEventProof } from './get-event-proof.ts';
import { registerListEvents } from './list-events.ts';

/**
 * The audit module's routes (mounted under /api/v1). They fail closed: without the request
 * context the auth module sets they answer 401, without the permission 403.
 */
export const auditRoutes: FastifyPluginAsync<{ db: Database }> = (app, opts) => {
  registerListEvents(app, opts.db);
  registerGetEventProof(app, opts.db);
  return Promise.resolve();
};
