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
  closeReviewTask,
  endBreakGlass,
  listReviewTasks,
  startBreakGlass,
} from '../break-glass-service.ts';
import { createGrant, listGrants, revokeGrant, type GrantInput } from '../grants-service.ts';
import { createPolicy, deletePolicy, listPolicies, updatePolicy } from '../policies-service.ts';
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
});

/** Access policies, break-glass, privacy reviews, security alerts and cross-organization grants. */
export function registerAccessRoutes(app: FastifyInstance, s: SecuredDeps): void {
  securedRoute(app, s, {
    method: 'GET',
    url: '/access-policies',
    permission: 'access_policy:read',
    schema: {
      operationId: 'listAccessPolicies',
      tags: ['access'],
      response: {
        200: object({ items: { type: 'array', items: policySchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx }) => ({ items: await listPolicies(tx) }),
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
      handler: ({ tx, principal, body }) => createPolicy(tx, principal, body),
    },
  );

  securedRoute<{ description?: string; document?: unknown; enabled?: boolean }, { id: string }>(
    app,
    s,
    {
      method: 'PATCH',
      url: '/access-policies/:id',
      permission: 'access_policy:manage',
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

  securedRoute<{ reason: string; minutes?: number; patientId?: string }>(app, s, {
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
        ['reason'],
      ),
      response: {
        201: object({ id: uuid, expiresAt: dateTime, reviewTaskId: uuid, alertId: uuid }),
        ...errorResponses,
      },
    },
    handler: ({ tx, principal, body }) => startBreakGlass(tx, principal, body),
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

  securedRoute<unknown, unknown, { status?: 'open' | 'closed' }>(app, s, {
    method: 'GET',
    url: '/access/review-tasks',
    permission: 'review_task:read',
    schema: {
      operationId: 'listReviewTasks',
      tags: ['access'],
      querystring: object({ status: { type: 'string', enum: ['open', 'closed'] } }, []),
      response: {
        200: object({ items: { type: 'array', items: reviewSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, query }) => ({ items: await listReviewTasks(tx, query.status) }),
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
      await closeReviewTask(tx, principal, params.id, body);
      return {};
    },
  });

  securedRoute<unknown, unknown, { status?: 'open' | 'acknowledged' | 'resolved' }>(app, s, {
    method: 'GET',
    url: '/security-alerts',
    permission: 'alert:read',
    schema: {
      operationId: 'listSecurityAlerts',
      tags: ['access'],
      querystring: object(
        { status: { type: 'string', enum: ['open', 'acknowledged', 'resolved'] } },
        [],
      ),
      response: {
        200: object({ items: { type: 'array', items: alertSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, query }) => {
      const r = await tx.query<{
        id: string;
        kind: string;
        severity: string;
        subject_user_id: string | null;
        details: Record<string, unknown>;
        status: string;
        created_at: Date;
      }>(
        `select id, kind, severity, subject_user_id, details, status, created_at from ward.security_alerts
          where ($1::text is null or status = $1) order by created_at desc limit 500`,
        [query.status ?? null],
      );
      return {
        items: r.rows.map((a) => ({
          id: a.id,
          kind: a.kind,
          severity: a.severity,
          subjectUserId: a.subject_user_id,
          details: a.details,
          status: a.status,
          createdAt: a.created_at.toISOString(),
        })),
      };
    },
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
    handler: ({ tx, principal, body }) => createGrant(tx, principal, body),
  });

  securedRoute(app, s, {
    method: 'GET',
    url: '/access/grants',
    permission: 'grant:read',
    schema: {
      operationId: 'listGrants',
      tags: ['access'],
      response: {
        200: object({ items: { type: 'array', items: grantSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx }) => ({ items: await listGrants(tx) }),
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
