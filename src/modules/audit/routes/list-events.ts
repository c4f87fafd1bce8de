import type { FastifyInstance } from 'fastify';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { listEvents, type EventFilters } from '../events-query.ts';
import { eventPageSchema, listEventsQuerySchema, problemSchema } from './schemas.ts';

type Query = EventFilters & { cursor?: string; limit?: string };

/**
 * GET /audit/events — auditors search their organization's events (by patient, actor, entity,
 * action, outcome, time range), newest first with cursor pagination. Reading the audit log is
 * itself audited.
 */
export function registerListEvents(app: FastifyInstance, s: SecuredDeps): void {
  securedRoute<unknown, unknown, Query>(app, s, {
    method: 'GET',
    url: '/audit/events',
    permission: 'audit:read',
    phi: true,
    schema: {
      operationId: 'listAuditEvents',
      tags: ['audit'],
      querystring: listEventsQuerySchema,
      response: { 200: eventPageSchema, '4xx': problemSchema },
    },
    handler: async ({ tx, query, audit }) => {
      const { cursor, limit, ...filters } = query;
      const page = await listEvents(tx, filters, { limit: Number(limit ?? 100), cursor });
      await audit({
        action: 'R',
        eventType: 'audit.search',
        entityType: 'AuditEvent',
        ...(filters.patientId ? { patientId: filters.patientId } : {}),
        metadata: { filters: Object.keys(filters).sort(), returned: page.items.length },
      });
      return page;
    },
  });
}
