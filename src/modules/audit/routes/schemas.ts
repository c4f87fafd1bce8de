/** JSON schemas of the audit routes; responses list every field so nothing else leaks. */

import { pageQueryProperties } from '../../../platform/http/pagination.ts';

const uuid = { type: 'string', format: 'uuid' } as const;
const nullable = (t: string) => ({ type: [t, 'null'] }) as const;

/** One audit event as served by the API. */
export const auditEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'occurredAt', 'actorType', 'action', 'eventType', 'outcome', 'phiFields'],
  properties: {
    id: { type: 'integer' },
    occurredAt: { type: 'string', description: 'ISO 8601, UTC, microseconds' },
    actorType: { type: 'string', enum: ['user', 'agent', 'system'] },
    actorId: nullable('string'),
    onBehalfOf: nullable('string'),
    sessionId: nullable('string'),
    ip: nullable('string'),
    userAgent: nullable('string'),
    action: { type: 'string', enum: ['C', 'R', 'U', 'D', 'E'] },
    eventType: { type: 'string' },
    entityType: nullable('string'),
    entityId: nullable('string'),
    patientId: nullable('string'),
    phiFields: { type: 'array', items: { type: 'string' } },
    purposeOfUse: nullable('string'),
    outcome: { type: 'string', enum: ['0', '4', '8', '12'] },
    outcomeReason: nullable('string'),
    requestId: nullable('string'),
    metadata: { type: 'object', additionalProperties: true },
  },
} as const;

/** GET /audit/events query string. */
export const listEventsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    patientId: uuid,
    actorId: uuid,
    entityType: { type: 'string', maxLength: 64 },
    entityId: { type: 'string', maxLength: 128 },
    action: { type: 'string', enum: ['C', 'R', 'U', 'D', 'E'] },
    outcome: { type: 'string', enum: ['0', '4', '8', '12'] },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    cursor: pageQueryProperties.cursor,
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
  },
} as const;

/** GET /audit/events response. */
export const eventPageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['items', 'nextCursor'],
  properties: {
    items: { type: 'array', items: auditEventSchema },
    nextCursor: nullable('string'),
  },
} as const;

/** GET /audit/events/{id}/proof response (docs/audit.md, "Inclusion proofs"). */
export const inclusionProofSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'eventId', 'leaf', 'leafIndex', 'treeSize', 'auditPath', 'checkpoint'],
  properties: {
    format: { type: 'string', const: 'ward.audit.inclusion-proof.v1' },
    eventId: { type: 'integer' },
    leaf: { type: 'string', contentEncoding: 'base64' },
    leafIndex: { type: 'integer' },
    treeSize: { type: 'integer' },
    auditPath: { type: 'array', items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    checkpoint: {
      type: 'object',
      additionalProperties: false,
      required: ['payload', 'signature', 'keyId'],
      properties: {
        payload: { type: 'string' },
        signature: { type: 'string' },
        keyId: { type: 'string' },
      },
    },
  },
} as const;

/** Problem document (RFC 9457) for error responses: the platform's one definition. */
export { problem as problemSchema } from '../../../platform/http/schemas.ts';
