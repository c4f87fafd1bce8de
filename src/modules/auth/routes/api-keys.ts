import type { FastifyInstance } from 'fastify';
import { WardError } from '../../../platform/errors.ts';
import {
  dateTime,
  errorResponses,
  idParams,
  nullableDateTime,
  object,
  stringList,
  uuid,
} from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import {
  pageQueryProperties,
  pageSchema,
  type PageQuery,
} from '../../../platform/http/pagination.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../api-key-service.ts';
import { credentialFailureHook } from '../login-service.ts';
import type { AuthDeps } from '../deps.ts';

const keySchema = object({
  id: uuid,
  principalId: uuid,
  name: { type: 'string' },
  scopes: stringList,
  expiresAt: dateTime,
  revokedAt: nullableDateTime,
  lastUsedAt: nullableDateTime,
  createdAt: dateTime,
});

/** API keys for service accounts and AI agents. */
export function registerApiKeyRoutes(app: FastifyInstance, s: SecuredDeps, d: AuthDeps): void {
  securedRoute<{
    principalId: string;
    name: string;
    scopes: string[];
    expiresAt: string;
    totpCode?: string;
  }>(app, s, {
    method: 'POST',
    url: '/api-keys',
    permission: 'api_key:manage',
    status: 201,
    schema: {
      operationId: 'createApiKey',
      tags: ['api-keys'],
      body: object(
        {
          principalId: uuid,
          name: { type: 'string', minLength: 1, maxLength: 100 },
          scopes: {
            type: 'array',
            items: { type: 'string', pattern: '^[a-z][a-z_]*:[a-z][a-z_]*$' },
            minItems: 1,
            maxItems: 100,
          },
          expiresAt: dateTime,
          totpCode: { type: 'string', pattern: '^[0-9]{6}$' },
        },
        ['principalId', 'name', 'scopes', 'expiresAt'],
      ),
      response: { 201: object({ apiKey: { type: 'string' }, key: keySchema }), ...errorResponses },
    },
    // The secret exists only in the first response (only its hash is stored), so a retry must
    // not create a second key and cannot replay the first: it is refused, naming the key to
    // revoke. Storing the secret, even encrypted, would make it recoverable from the database.
    idempotent: {
      idOf: (r) => (r as { key: { id: string } }).key.id,
      replay: (_call, id) =>
        Promise.reject(
          new WardError(
            'idempotency_replay_unavailable',
            `API key ${id} was created by the first request; revoke it and create a new one if its secret was lost`,
          ),
        ),
    },
    afterFailure: credentialFailureHook(d),
    handler: ({ tx, principal, body }) => createApiKey(tx, d, principal, body),
  });

  securedRoute<unknown, unknown, PageQuery>(app, s, {
    method: 'GET',
    url: '/api-keys',
    permission: 'api_key:read',
    schema: {
      operationId: 'listApiKeys',
      tags: ['api-keys'],
      querystring: object(pageQueryProperties, []),
      response: { 200: pageSchema(keySchema), ...errorResponses },
    },
    handler: ({ tx, query }) => listApiKeys(tx, query),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'DELETE',
    url: '/api-keys/:id',
    permission: 'api_key:manage',
    schema: {
      operationId: 'revokeApiKey',
      tags: ['api-keys'],
      params: idParams,
      response: { 200: object({}), ...errorResponses },
    },
    handler: async ({ tx, params }) => {
      await revokeApiKey(tx, params.id);
      return {};
    },
  });
}
