import type { FastifyInstance } from 'fastify';
import type { Tx } from '../../../platform/db/index.ts';
import { WardError } from '../../../platform/errors.ts';
import {
  dateTime,
  errorResponses,
  nullableString,
  object,
  stringList,
  uuid,
} from '../../../platform/http/schemas.ts';
import { readSettings, type OrganizationSettings } from '../../access/principal.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { updateOrganizationSettings } from '../settings-service.ts';

export const settingsSchema = object({
  mfaRequiredRoles: stringList,
  sessionIdleMinutes: { type: 'integer', minimum: 1, maximum: 1440 },
  sessionAbsoluteMinutes: { type: 'integer', minimum: 5, maximum: 43200 },
  lockoutThreshold: { type: 'integer', minimum: 3, maximum: 100 },
  lockoutMinutes: { type: 'integer', minimum: 1, maximum: 1440 },
});

const orgTable = { schema: 'ward', table: 'organizations' } as const;

const orgSchema = object({
  id: uuid,
  name: { type: 'string' },
  type: { type: 'string' },
  taxId: nullableString,
  status: { type: 'string' },
  settings: settingsSchema,
  createdAt: dateTime,
});

/** The caller's own organization: profile and security settings. */
export function registerOrganizationRoutes(app: FastifyInstance, s: SecuredDeps): void {
  const read = async (tx: Tx) => {
    const r = await tx.query<{
      id: string;
      name: string;
      type: string;
      tax_id: string | null;
      status: string;
      settings: unknown;
      created_at: Date;
    }>('select id, name, type, tax_id, status, settings, created_at from ward.organizations');
    const o = r.rows[0];
    if (!o) throw new WardError('not_found');
    return {
      id: o.id,
      name: o.name,
      type: o.type,
      taxId: o.tax_id,
      status: o.status,
      settings: readSettings(o.settings),
      createdAt: o.created_at.toISOString(),
    };
  };

  securedRoute(app, s, {
    method: 'GET',
    url: '/organization',
    permission: 'organization:read',
    versioned: { ...orgTable, id: ({ principal }) => principal.orgId },
    schema: {
      operationId: 'getOrganization',
      tags: ['organization'],
      response: { 200: orgSchema, ...errorResponses },
    },
    handler: ({ tx }) => read(tx),
  });

  securedRoute<Partial<OrganizationSettings>>(app, s, {
    method: 'PATCH',
    url: '/organization/settings',
    permission: 'organization:update',
    versioned: { ...orgTable, id: ({ principal }) => principal.orgId },
    schema: {
      operationId: 'updateOrganizationSettings',
      tags: ['organization'],
      body: { ...settingsSchema, required: [], minProperties: 1 },
      response: { 200: orgSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, body }) => {
      await updateOrganizationSettings(tx, principal.orgId, body);
      return read(tx);
    },
  });
}
