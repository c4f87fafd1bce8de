import { createOrganization } from '../../modules/tenancy/service.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
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
