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
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { revokeAllFor, sessionsOf } from '../../auth/session-service.ts';
import { sessionSchema } from '../../auth/routes/self.ts';
import { principalTypes } from '../model.ts';
import { createUserInTx } from '../service.ts';
import { getUser, listUsers, setUserRole, unlockUser, updateUser } from '../users-admin-service.ts';

const userSchema = object({
  id: uuid,
  email: { type: 'string' },
  displayName: nullableString,
  principalType: { type: 'string' },
  status: { type: 'string' },
  roles: stringList,
  licenseNumber: nullableString,
  failedLoginAttempts: { type: 'integer' },
  lockedUntil: nullableDateTime,
  lastLoginAt: nullableDateTime,
  createdAt: dateTime,
});

const usersTable = { schema: 'ward', table: 'users' } as const;

interface CreateBody {
  email: string;
  role: string;
  password?: string;
  displayName?: string;
  licenseNumber?: string;
  principalType?: (typeof principalTypes)[number];
}

/** User administration: the organization's people, service accounts and agents. */
export function registerUserRoutes(app: FastifyInstance, s: SecuredDeps): void {
  securedRoute<unknown, unknown, PageQuery>(app, s, {
    method: 'GET',
    url: '/users',
    permission: 'user:read',
    schema: {
      operationId: 'listUsers',
      tags: ['users'],
      querystring: object(pageQueryProperties, []),
      response: { 200: pageSchema(userSchema), ...errorResponses },
    },
    handler: ({ tx, query }) => listUsers(tx, query),
  });

  securedRoute<CreateBody>(app, s, {
    method: 'POST',
    url: '/users',
    permission: 'user:create',
    status: 201,
    schema: {
      operationId: 'createUser',
      tags: ['users'],
      body: object(
        {
          email: { type: 'string', maxLength: 254 },
          role: { type: 'string', pattern: '^[a-z][a-z0-9_-]{1,62}$' },
          password: { type: 'string', maxLength: 1024 },
          displayName: { type: 'string', maxLength: 200 },
          licenseNumber: { type: 'string', maxLength: 64 },
          principalType: { type: 'string', enum: [...principalTypes] },
        },
        ['email', 'role'],
      ),
      response: { 201: userSchema, ...errorResponses },
    },
    idempotent: { idOf: (u) => (u as { id: string }).id, replay: ({ tx }, id) => getUser(tx, id) },
    handler: async ({ tx, principal, body }) => {
      const created = await createUserInTx(tx, {
        ...body,
        orgId: principal.orgId,
        createdBy: principal.userId,
        principalType: body.principalType ?? 'human',
      });
      return getUser(tx, created.id);
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/users/:id',
    permission: 'user:read',
    versioned: { ...usersTable, id: ({ params }) => params.id },
    schema: {
      operationId: 'getUser',
      tags: ['users'],
      params: idParams,
      response: { 200: userSchema, ...errorResponses },
    },
    handler: ({ tx, params }) => getUser(tx, params.id),
  });

  securedRoute<
    { status?: 'active' | 'disabled'; displayName?: string; licenseNumber?: string },
    { id: string }
  >(app, s, {
    method: 'PATCH',
    url: '/users/:id',
    permission: 'user:update',
    versioned: { ...usersTable, id: ({ params }) => params.id },
    schema: {
      operationId: 'updateUser',
      tags: ['users'],
      params: idParams,
      body: object(
        {
          status: { type: 'string', enum: ['active', 'disabled'] },
          displayName: { type: 'string', maxLength: 200 },
          licenseNumber: { type: 'string', maxLength: 64 },
        },
        [],
      ),
      response: { 200: userSchema, ...errorResponses },
    },
    handler: ({ tx, principal, params, body }) => updateUser(tx, principal, params.id, body),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'POST',
    url: '/users/:id/unlock',
    permission: 'user:update',
    schema: {
      operationId: 'unlockUser',
      tags: ['users'],
      params: idParams,
      response: { 200: userSchema, ...errorResponses },
    },
    handler: ({ tx, params }) => unlockUser(tx, params.id),
  });

  securedRoute<{ role: string }, { id: string }>(app, s, {
    method: 'POST',
    url: '/users/:id/roles',
    permission: 'role:manage',
    schema: {
      operationId: 'assignRole',
      tags: ['users'],
      params: idParams,
      body: object({ role: { type: 'string', maxLength: 63 } }),
      response: { 200: userSchema, ...errorResponses },
    },
    handler: ({ tx, principal, params, body }) =>
      setUserRole(tx, principal, params.id, body.role, true),
  });

  securedRoute<{ role: string }, { id: string }>(app, s, {
    method: 'POST',
    url: '/users/:id/roles/remove',
    permission: 'role:manage',
    schema: {
      operationId: 'removeRole',
      tags: ['users'],
      params: idParams,
      body: object({ role: { type: 'string', maxLength: 63 } }),
      response: { 200: userSchema, ...errorResponses },
    },
    handler: ({ tx, principal, params, body }) =>
      setUserRole(tx, principal, params.id, body.role, false),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/users/:id/sessions',
    permission: 'session:read',
    schema: {
      operationId: 'listUserSessions',
      tags: ['users'],
      params: idParams,
      response: {
        200: object({ items: { type: 'array', items: sessionSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, params }) => {
      await getUser(tx, params.id);
      return { items: await sessionsOf(tx, params.id) };
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'POST',
    url: '/users/:id/sessions/revoke',
    permission: 'session:revoke',
    schema: {
      operationId: 'revokeUserSessions',
      tags: ['users'],
      params: idParams,
      response: { 200: object({ revoked: { type: 'integer' } }), ...errorResponses },
    },
    handler: async ({ tx, params }) => {
      await getUser(tx, params.id);
      return { revoked: await revokeAllFor(tx, params.id, 'revoked_by_admin') };
    },
  });
}
