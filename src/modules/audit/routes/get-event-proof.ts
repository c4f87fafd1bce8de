import type { FastifyInstance } from 'fastify';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { inclusionProof } from '../proof.ts';
import { inclusionProofSchema, problemSchema } from './schemas.ts';

/** GET /audit/events/{id}/proof — the event's inclusion proof in its signed checkpoint. */
export function registerGetEventProof(app: FastifyInstance, s: SecuredDeps): void {
  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/audit/events/:id/proof',
    permission: 'audit:verify',
    phi: true,
    schema: {
      operationId: 'getAuditEventProof',
      tags: ['audit'],
      params: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } },
      },
      response: { 200: inclusionProofSchema, '4xx': problemSchema },
    },
    handler: async ({ tx, params, audit }) => {
      const id = Number(params.id);
      const proof = await inclusionProof(tx, id);
      await audit({
        action: 'R',
        eventType: 'audit.proof',
        entityType: 'AuditEvent',
        entityId: String(id),
      });
      return proof;
    },
  });
}
