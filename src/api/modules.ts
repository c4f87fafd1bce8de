import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../platform/db/index.ts';
import { auditRoutes } from '../modules/audit/routes/index.ts';

/**
 * Route plugins of the domain modules, mounted under /api/v1. Each module contributes one
 * plugin; the order here is the order of registration. Every plugin must fail closed (401)
 * while no authentication module sets the request context.
 */
export const apiModules: readonly FastifyPluginAsync<{ db: Database }>[] = [auditRoutes];
