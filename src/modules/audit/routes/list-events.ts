import type { FastifyInstance } from 'fastify';
import type { Database } from '../../../platform/db/index.ts';
import { requirePermission } from '../../../platform/http/request-context.ts';
import { listEvents, type EventFilters } from '../events-query.ts';
import { requestTransaction } from '../http/request-transaction.ts';
import { record } from '../record.ts';
import { eventPageSchema, listEventsQuerySchema, problemSchema } from './schemas.ts';

type Query = EventFilters & { cursor?: string; limit?: string };

/**
 * GET /audit/events — auditors search their organization's events (by patient, actor, entity,
 * action, outcome, time range), newest first with cursor pagination. Reading the audit log is
 * itself audited.
 */
export function registerListEvents(app: FastifyInstance, db: Database): void {
  app.get<{ Querystring: Query }>(
    '/audit/events',
    {
      config: { phi: true },
      schema: {
        querystring: listEventsQuerySchema,
        response: { 200: eventPageSchema, '4xx': problemSchema },
      },
    },
    async (req) => {
      requirePermission(req, 'audit:read');
      const { cursor, limit, ...filters } = req.query;
      return requestTransaction(req, db, async (tx) => {
        const page = await listEvents(tx, filters, { limit: Number(limit ?? 100), cursor });
        await record(tx, {
          action: 'R',
          eventType: 'audit.search',
          entityType: 'AuditEvent',
          ...(filters.patientId ? { patientId: filters.patientId } : {}),
          ip: req.ip,
          ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
          metadata: { filters: Object.keys(filters).sort(), returned: page.items.length },
        });
        return page;
      });
    },
  );
}
