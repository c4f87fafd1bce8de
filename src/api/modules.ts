import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../platform/db/index.ts';

/**
 * Route plugins of the domain modules, mounted under /api/v1. Each module contributes one
 * plugin; the order here is the order of registration.
 */
export const apiModules: readonly FastifyPluginAsync<{ db: Database }>[] = [];
