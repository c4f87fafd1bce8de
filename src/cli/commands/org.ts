import { createOrganization } from '../../modules/tenancy/service.ts';
import { updateOrganizationSettings } from '../../modules/tenancy/settings-service.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, int, str, type Command, type NumericBounds } from '../command.ts';
import { withRuntime } from '../runtime.ts';

export const orgCreateCommand: Command = {
  path: ['org', 'create'],
  summary: 'Create an organization (provider, insurer, administrator or auditor)',
  usage: '--name N --type T [--tax-id ID] [--json]',
  options: {
    name: { type: 'string' },
    type: { type: 'string' },
    'tax-id': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const name = str(values, 'name');
    const type = str(values, 'type');
    if (!name || !type) throw new WardError('bad_request', '--name and --type are required');
    const org = await withRuntime(io, ({ db }) =>
      createOrganization(db, { name, type, taxId: str(values, 'tax-id') }),
    );
    emit(
      io,
      values['json'] === true,
      { id: org.id, name: org.name, type: org.type },
      `created organization ${org.id} (${org.name}, ${org.type})`,
    );
    return 0;
  },
};

/** The ranges `readSettings` accepts (a value outside them would silently read as the default). */
const settingBounds = {
  'idle-minutes': { min: 1, max: 24 * 60 },
  'absolute-minutes': { min: 5, max: 30 * 24 * 60 },
  'lockout-threshold': { min: 3, max: 100 },
  'lockout-minutes': { min: 1, max: 24 * 60 },
} as const satisfies Record<string, NumericBounds>;

export const orgUpdateCommand: Command = {
  path: ['org', 'update'],
  summary: "Change an organization's security settings (MFA per role, session timeouts, lockout)",
  usage:
    '--id ID [--mfa-roles admin,doctor,…] [--idle-minutes N] [--absolute-minutes N] [--lockout-threshold N] [--lockout-minutes N] [--json]',
  options: {
    id: { type: 'string' },
    'mfa-roles': { type: 'string' },
    'idle-minutes': { type: 'string' },
    'absolute-minutes': { type: 'string' },
    'lockout-threshold': { type: 'string' },
    'lockout-minutes': { type: 'string' },
    json: { type: 'boolean' },
  },
  numeric: settingBounds,
  async run(values, _p, io) {
    const id = str(values, 'id');
    if (!id || !isUuid(id)) throw new WardError('bad_request', '--id must be an organization id');
    const roles = str(values, 'mfa-roles');
    const patch = {
      ...(roles !== undefined
        ? {
            mfaRequiredRoles: roles
              .split(',')
              .map((r) => r.trim())
              .filter(Boolean),
          }
        : {}),
      ...optional('sessionIdleMinutes', int(values, 'idle-minutes', settingBounds['idle-minutes'])),
      ...optional(
        'sessionAbsoluteMinutes',
        int(values, 'absolute-minutes', settingBounds['absolute-minutes']),
      ),
      ...optional(
        'lockoutThreshold',
        int(values, 'lockout-threshold', settingBounds['lockout-threshold']),
      ),
      ...optional(
        'lockoutMinutes',
        int(values, 'lockout-minutes', settingBounds['lockout-minutes']),
      ),
    };
    if (Object.keys(patch).length === 0)
      throw new WardError('bad_request', 'Nothing to change: give at least one setting');
    // Runs under the organization's own context (RLS applies), as the operator's system actor.
    const settings = await withRuntime(io, ({ db }) =>
      db.withContext({ orgId: id, actorType: 'system' }, (tx) =>
        updateOrganizationSettings(tx, id, patch),
      ),
    );
    emit(
      io,
      values['json'] === true,
      { id, settings },
      `updated organization ${id}: ${JSON.stringify(settings)}`,
    );
    return 0;
  },
};

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
