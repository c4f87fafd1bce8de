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
import {
  activationPending,
  issueActivation,
  type IssuedActivation,
} from '../../auth/activation-service.ts';
import type { AuthDeps } from '../../auth/deps.ts';
import { WardError } from '../../../platform/errors.ts';
import { revokeAllFor, sessionsOf } from '../../auth/session-service.ts';
import { sessionSchema } from '../../auth/routes/self.ts';
import { principalTypes } from '../model.ts';
import { createUserInTx } from '../service.ts';
import {
  getUser,
  listUsers,
  roleAssignmentPermission,
  setUserRole,
  unlockUser,
  updateUser,
  type UserAdminView,
} from '../users-admin-service.ts';

const userProperties = {
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
};
const userSchema = object(userProperties);

const activationProperties = {
  activationToken: {
    type: 'string',
    description: 'Shown once: the invitee sets their password with it (POST /auth/activate)',
  },
  activationExpiresAt: dateTime,
};

/** A created user: a person comes with the one-time activation token the invitee needs. */
const createdUserSchema = object(
  { ...userProperties, ...activationProperties },
  Object.keys(userProperties),
);

const usersTable = { schema: 'ward', table: 'users' } as const;

interface CreateBody {
  email: string;
  role: string;
  displayName?: string;
  licenseNumber?: string;
  principalType?: (typeof principalTypes)[number];
}

/** User administration: the organization's people, service accounts and agents. */
export function registerUserRoutes(app: FastifyInstance, s: SecuredDeps, d: AuthDeps): void {
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

  securedRoute<CreateBody, unknown, unknown, UserAdminView & Partial<IssuedActivation>>(app, s, {
    method: 'POST',
    url: '/users',
    permission: 'user:create',
    status: 201,
    schema: {
      operationId: 'createUser',
      tags: ['users'],
      summary:
        'Create a user with a role (which takes role:manage too); a person gets a one-time activation token, never a password chosen by the creator',
      body: object(
        {
          email: { type: 'string', maxLength: 254 },
          role: { type: 'string', pattern: '^[a-z][a-z0-9_-]{1,62}$' },
          displayName: { type: 'string', maxLength: 200 },
          licenseNumber: { type: 'string', maxLength: 64 },
          principalType: { type: 'string', enum: [...principalTypes] },
        },
        ['email', 'role'],
      ),
      response: { 201: createdUserSchema, ...errorResponses },
    },
    idempotent: {
      idOf: (u) => u.id,
      // A person's activation token exists only in the first response (only its hash is
      // stored): a retry cannot replay it, and says how to get a new one.
      replay: async ({ tx }, id) => {
        const user = await getUser(tx, id);
        if (user.principalType === 'human' && (await activationPending(tx, d, id)))
          throw new WardError(
            'idempotency_replay_unavailable',
            `User ${id} was created by the first request; if its activation token was lost, issue a new one (POST /users/${id}/activation)`,
          );
        return user;
      },
    },
    handler: async ({ tx, principal, body, authorize }) => {
      // Creating an account with a role assigns that role: the same authority as assigning it
      // later, checked by the same evaluator and then by the same assignment (`setUserRole`).
      authorize({ permission: roleAssignmentPermission });
      const created = await createUserInTx(
        tx,
        {
          ...body,
          orgId: principal.orgId,
          createdBy: principal.userId,
          principalType: body.principalType ?? 'human',
        },
        async (_tx, id) => {
          await setUserRole(tx, principal, id, body.role, true);
        },
      );
      const user = await getUser(tx, created.id);
      if (created.principalType !== 'human') return user;
      const activation = await issueActivation(tx, d, {
        orgId: principal.orgId,
        userId: created.id,
        issuedBy: principal.userId,
      });
      return { ...user, ...activation };
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'POST',
    url: '/users/:id/activation',
    permission: roleAssignmentPermission,
    status: 201,
    schema: {
      operationId: 'issueActivation',
      tags: ['users'],
      summary:
        'Issue a new one-time activation token for a person who has not set a password (the previous one stops working)',
      params: idParams,
      response: { 201: object(activationProperties), ...errorResponses },
    },
    handler: async ({ tx, principal, params }) => {
      await getUser(tx, params.id);
      return issueActivation(tx, d, {
        orgId: principal.orgId,
        userId: params.id,
        issuedBy: principal.userId,
      });
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
    permission: roleAssignmentPermission,
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
