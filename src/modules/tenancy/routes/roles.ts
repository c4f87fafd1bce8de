import type { FastifyInstance } from 'fastify';
import {
  errorResponses,
  idParams,
  object,
  stringList,
  uuid,
} from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { createRole, deleteRole, listRoles, setRolePermissions } from '../roles-service.ts';

const roleSchema = object({
  id: uuid,
  name: { type: 'string' },
  description: { type: 'string' },
  builtin: { type: 'boolean' },
  permissions: stringList,
});
const permissionList = {
  type: 'array',
  items: { type: 'string', pattern: '^[a-z][a-z_]*:[a-z][a-z_]*$' },
  maxItems: 200,
} as const;

/** Organization-defined roles and the built-in roles' permission sets. */
export function registerRoleRoutes(app: FastifyInstance, s: SecuredDeps): void {
  securedRoute(app, s, {
    method: 'GET',
    url: '/roles',
    permission: 'role:read',
    schema: {
      operationId: 'listRoles',
      tags: ['users'],
      response: { 200: object({ items: { type: 'array', items: roleSchema } }), ...errorResponses },
    },
    handler: async ({ tx }) => ({ items: await listRoles(tx) }),
  });

  securedRoute<{ name: string; description?: string; permissions: string[] }>(app, s, {
    method: 'POST',
    url: '/roles',
    permission: 'role:manage',
    status: 201,
    schema: {
      operationId: 'createRole',
      tags: ['users'],
      body: object(
        {
          name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{1,62}$' },
          description: { type: 'string', maxLength: 500 },
          permissions: permissionList,
        },
        ['name', 'permissions'],
      ),
      response: { 201: roleSchema, ...errorResponses },
    },
    handler: ({ tx, principal, body }) => createRole(tx, principal, body),
  });

  securedRoute<{ permissions: string[] }, { id: string }>(app, s, {
    method: 'PUT',
    url: '/roles/:id/permissions',
    permission: 'role:manage',
    schema: {
      operationId: 'setRolePermissions',
      tags: ['users'],
      params: idParams,
      body: object({ permissions: permissionList }),
      response: { 200: roleSchema, ...errorResponses },
    },
    handler: ({ tx, principal, params, body }) =>
      setRolePermissions(tx, principal, params.id, body.permissions),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'DELETE',
    url: '/roles/:id',
    permission: 'role:manage',
    schema: {
      operationId: 'deleteRole',
      tags: ['users'],
      params: idParams,
      response: { 200: object({}), ...errorResponses },
    },
    handler: async ({ tx, params }) => {
      await deleteRole(tx, params.id);
      return {};
    },
  });
}
