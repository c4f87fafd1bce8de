import type { FastifyInstance } from 'fastify';
import type { Database } from '../../../platform/db/index.ts';
import { requirePermission } from '../../../platform/http/request-context.ts';
import { requestTransaction } from '../http/request-transaction.ts';
import { inclusionProof } from '../proof.ts';
import { record } from '../record.ts';
import { inclusionProofSchema, problemSchema } from './schemas.ts';

/** GET /audit/events/{id}/proof — the event's inclusion proof in its signed checkpoint. */
export function registerGetEventProof(app: FastifyInstance, db: Database): void {
  app.get<{ Params: { id: string } }>(
    '/audit/events/:id/proof',
    {
      config: { phi: true },
      schema: {
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } },
        },
        response: { 200: inclusionProofSchema, '4xx': problemSchema },
      },
    },
    async (req) => {
      requirePermission(req, 'audit:verify');
      const id = Number(req.params.id);
      return requestTransaction(req, db, async (tx) => {
        const proof = await inclusionProof(tx, id);
        await record(tx, {
          action: 'R',
          eventType: 'audit.proof',
          entityType: 'AuditEvent',
          entityId: String(id),
          ip: req.ip,
          ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
        });
        return proof;
      });
    },
  );
}
