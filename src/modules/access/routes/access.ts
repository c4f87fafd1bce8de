import type { FastifyInstance } from 'fastify';
import {
  dateTime,
  errorResponses,
  idParams,
  nullableDateTime,
  nullableString,
  object,
  stringList,
  uuid,
} from '../../../platform/http/schemas.ts';
import {
  pageQueryProperties,
  pageSchema,
  type PageQuery,
} from '../../../platform/http/pagination.ts';
import {
  acknowledgeAlert,
  alertResolutions,
  alertStatuses,
  listAlerts,
  resolveAlert,
  type AlertResolution,
  type AlertStatus,
} from '../alerts-service.ts';
import {
  closeReviewTask,
  endBreakGlass,
  listReviewTasks,
  startBreakGlass,
} from '../break-glass-service.ts';
import {
  createGrant,
  getGrant,
  listGrants,
  revokeGrant,
  type GrantInput,
} from '../grants-service.ts';
import {
  createPolicy,
  deletePolicy,
  getPolicy,
  listPolicies,
  updatePolicy,
} from '../policies-service.ts';
import type { FieldCodec } from '../../crypto/codec.ts';
import { securedRoute, type SecuredDeps } from '../secured-route.ts';

const policySchema = object({
  id: uuid,
  name: { type: 'string' },
  description: { type: 'string' },
  document: { type: 'object', additionalProperties: true },
  enabled: { type: 'boolean' },
  createdAt: dateTime,
  updatedAt: dateTime,
});

const reviewSchema = object({
  id: uuid,
  kind: { type: 'string' },
  subjectId: uuid,
  subjectUserId: { type: ['string', 'null'] },
  status: { type: 'string' },
  summary: { type: 'string' },
  resolution: nullableString,
  createdAt: dateTime,
  closedAt: nullableDateTime,
});

const grantSchema = object({
  id: uuid,
  ownerOrganizationId: uuid,
  granteeOrganizationId: uuid,
  patientId: uuid,
  permissions: stringList,
  purposes: stringList,
  fields: stringList,
  validFrom: dateTime,
  validUntil: dateTime,
  justificationType: { type: 'string' },
  justificationId: uuid,
  revokedAt: nullableDateTime,
});

const alertSchema = object({
  id: uuid,
  kind: { type: 'string' },
  severity: { type: 'string' },
  subjectUserId: { type: ['string', 'null'] },
  details: { type: 'object', additionalProperties: true },
  status: { type: 'string' },
  createdAt: dateTime,
  acknowledgedBy: { type: ['string', 'null'] },
  acknowledgedAt: nullableDateTime,
  resolvedBy: { type: ['string', 'null'] },
  resolvedAt: nullableDateTime,
  resolution: { type: ['string', 'null'] },
  notes: { type: ['string', 'null'] },
});

const policiesTable = { schema: 'ward', table: 'access_policies' } as const;

/** Access policies, break-glass, privacy reviews, security alerts and cross-organization grants. */
export function registerAccessRoutes(
  app: FastifyInstance,
  s: SecuredDeps,
  codec: FieldCodec,
): void {
  securedRoute<unknown, unknown, PageQuery>(app, s, {
    method: 'GET',
    url: '/access-policies',
    permission: 'access_policy:read',
    schema: {
      operationId: 'listAccessPolicies',
      tags: ['access'],
      querystring: object(pageQueryProperties, []),
      response: { 200: pageSchema(policySchema), ...errorResponses },
    },
    handler: ({ tx, query }) => listPolicies(tx, query),
  });

  securedRoute<{ name: string; description?: string; document: unknown; enabled?: boolean }>(
    app,
    s,
    {
      method: 'POST',
      url: '/access-policies',
      permission: 'access_policy:manage',
      status: 201,
      schema: {
        operationId: 'createAccessPolicy',
        tags: ['access'],
        body: object(
          {
            name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$' },
            description: { type: 'string', maxLength: 1000 },
            document: { type: 'object' },
            enabled: { type: 'boolean' },
          },
          ['name', 'document'],
        ),
        response: { 201: policySchema, ...errorResponses },
      },
      idempotent: {
        idOf: (p) => (p as { id: string }).id,
        replay: ({ tx }, id) => getPolicy(tx, id),
      },
      handler: ({ tx, principal, body }) => createPolicy(tx, principal, body),
    },
  );

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/access-policies/:id',
    permission: 'access_policy:read',
    versioned: { ...policiesTable, id: ({ params }) => params.id },
    schema: {
      operationId: 'getAccessPolicy',
      tags: ['access'],
      params: idParams,
      response: { 200: policySchema, ...errorResponses },
    },
    handler: ({ tx, params }) => getPolicy(tx, params.id),
  });

  securedRoute<{ description?: string; document?: unknown; enabled?: boolean }, { id: string }>(
    app,
    s,
    {
      method: 'PATCH',
      url: '/access-policies/:id',
      permission: 'access_policy:manage',
      versioned: { ...policiesTable, id: ({ params }) => params.id },
      schema: {
        operationId: 'updateAccessPolicy',
        tags: ['access'],
        params: idParams,
        body: {
          ...object(
            {
              description: { type: 'string', maxLength: 1000 },
              document: { type: 'object' },
              enabled: { type: 'boolean' },
            },
            [],
          ),
          minProperties: 1,
        },
        response: { 200: policySchema, ...errorResponses },
      },
      handler: ({ tx, principal, params, body }) => updatePolicy(tx, principal, params.id, body),
    },
  );

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'DELETE',
    url: '/access-policies/:id',
    permission: 'access_policy:manage',
    schema: {
      operationId: 'deleteAccessPolicy',
      tags: ['access'],
      params: idParams,
      response: { 200: object({}), ...errorResponses },
    },
    handler: async ({ tx, params }) => {
      await deletePolicy(tx, params.id);
      return {};
    },
  });

  securedRoute<{ reason: string; minutes?: number; patientId: string }>(app, s, {
    method: 'POST',
    url: '/access/break-glass',
    permission: 'break_glass:invoke',
    status: 201,
    schema: {
      operationId: 'startBreakGlass',
      tags: ['access'],
      body: object(
        {
          reason: { type: 'string', minLength: 20, maxLength: 1000 },
          minutes: { type: 'integer', minimum: 1, maximum: 60 },
          patientId: uuid,
        },
        ['reason', 'patientId'],
      ),
      response: {
        201: object({ id: uuid, expiresAt: dateTime, reviewTaskId: uuid, alertId: uuid }),
        ...errorResponses,
      },
    },
    handler: ({ tx, principal, body }) => startBreakGlass(tx, codec, principal, body),
  });

  securedRoute(app, s, {
    method: 'POST',
    url: '/access/break-glass/end',
    permission: 'break_glass:invoke',
    schema: {
      operationId: 'endBreakGlass',
      tags: ['access'],
      response: { 200: object({ ended: { type: 'integer' } }), ...errorResponses },
    },
    handler: async ({ tx, principal }) => ({ ended: await endBreakGlass(tx, principal) }),
  });

  securedRoute<unknown, unknown, PageQuery & { status?: 'open' | 'closed' }>(app, s, {
    method: 'GET',
    url: '/access/review-tasks',
    permission: 'review_task:read',
    schema: {
      operationId: 'listReviewTasks',
      tags: ['access'],
      querystring: object(
        { status: { type: 'string', enum: ['open', 'closed'] }, ...pageQueryProperties },
        [],
      ),
      response: { 200: pageSchema(reviewSchema), ...errorResponses },
    },
    handler: ({ tx, query }) => listReviewTasks(tx, codec, query.status, query),
  });

  securedRoute<
    { resolution: 'appropriate' | 'inappropriate' | 'needs_follow_up'; notes?: string },
    { id: string }
  >(app, s, {
    method: 'POST',
    url: '/access/review-tasks/:id/close',
    permission: 'review_task:close',
    schema: {
      operationId: 'closeReviewTask',
      tags: ['access'],
      params: idParams,
      body: object(
        {
          resolution: { type: 'string', enum: ['appropriate', 'inappropriate', 'needs_follow_up'] },
          notes: { type: 'string', maxLength: 4000 },
        },
        ['resolution'],
      ),
      response: { 200: object({}), ...errorResponses },
    },
    handler: async ({ tx, principal, params, body }) => {
      await closeReviewTask(tx, codec, principal, params.id, body);
      return {};
    },
  });

  securedRoute<unknown, unknown, PageQuery & { status?: AlertStatus }>(app, s, {
    method: 'GET',
    url: '/security-alerts',
    permission: 'alert:read',
    schema: {
      operationId: 'listSecurityAlerts',
      tags: ['access'],
      querystring: object(
        { status: { type: 'string', enum: [...alertStatuses] }, ...pageQueryProperties },
        [],
      ),
      response: { 200: pageSchema(alertSchema), ...errorResponses },
    },
    handler: ({ tx, query }) => listAlerts(tx, codec, query.status, query),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'POST',
    url: '/security-alerts/:id/acknowledge',
    permission: 'alert:manage',
    schema: {
      operationId: 'acknowledgeSecurityAlert',
      tags: ['access'],
      params: idParams,
      response: { 200: alertSchema, ...errorResponses },
    },
    handler: ({ tx, principal, params }) => acknowledgeAlert(tx, codec, principal, params.id),
  });

  securedRoute<{ resolution: AlertResolution; notes?: string }, { id: string }>(app, s, {
    method: 'POST',
    url: '/security-alerts/:id/resolve',
    permission: 'alert:manage',
    schema: {
      operationId: 'resolveSecurityAlert',
      tags: ['access'],
      params: idParams,
      body: object(
        {
          resolution: { type: 'string', enum: [...alertResolutions] },
          notes: { type: 'string', maxLength: 4000 },
        },
        ['resolution'],
      ),
      response: { 200: alertSchema, ...errorResponses },
    },
    handler: ({ tx, principal, params, body }) =>
      resolveAlert(tx, codec, principal, params.id, body),
  });

  securedRoute<GrantInput>(app, s, {
    method: 'POST',
    url: '/access/grants',
    permission: 'grant:manage',
    status: 201,
    schema: {
      operationId: 'createGrant',
      tags: ['access'],
      body: object(
        {
          granteeOrganizationId: uuid,
          patientId: uuid,
          permissions: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 20 },
          purposes: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 12 },
          fields: { type: 'array', items: { type: 'string' }, maxItems: 13 },
          validFrom: dateTime,
          validUntil: dateTime,
          justificationType: { type: 'string', pattern: '^[a-z][a-z_]{2,63}$' },
          justificationId: uuid,
        },
        [
          'granteeOrganizationId',
          'patientId',
          'permissions',
          'purposes',
          'validUntil',
          'justificationType',
          'justificationId',
        ],
      ),
      response: { 201: grantSchema, ...errorResponses },
    },
    idempotent: { idOf: (g) => (g as { id: string }).id, replay: ({ tx }, id) => getGrant(tx, id) },
    handler: ({ tx, principal, body }) => createGrant(tx, principal, body),
  });

  securedRoute<unknown, unknown, PageQuery>(app, s, {
    method: 'GET',
    url: '/access/grants',
    permission: 'grant:read',
    schema: {
      operationId: 'listGrants',
      tags: ['access'],
      querystring: object(pageQueryProperties, []),
      response: { 200: pageSchema(grantSchema), ...errorResponses },
    },
    handler: ({ tx, query }) => listGrants(tx, query),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'POST',
    url: '/access/grants/:id/revoke',
    permission: 'grant:manage',
    schema: {
      operationId: 'revokeGrant',
      tags: ['access'],
      params: idParams,
      response: { 200: object({}), ...errorResponses },
    },
    handler: async ({ tx, principal, params }) => {
      await revokeGrant(tx, principal, params.id);
      return {};
    },
  });
}
