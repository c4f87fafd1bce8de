import { createUser } from '../../modules/tenancy/service.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
import { promptSecret, readStdin } from '../prompt.ts';
import { withRuntime } from '../runtime.ts';

export const userCreateCommand: Command = {
  path: ['user', 'create'],
  summary: 'Create a user in an organization with a role',
  usage:
    '--org ID --email E --role R [--password-stdin] [--name N] [--license L] [--principal human|service|agent] [--json]',
  options: {
    org: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    name: { type: 'string' },
    license: { type: 'string' },
    principal: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const orgId = str(values, 'org');
    const email = str(values, 'email');
    const role = str(values, 'role');
    if (!orgId || !email || !role)
      throw new WardError('bad_request', '--org, --email and --role are required');
    const principal = str(values, 'principal') ?? 'human';
    let password: string | undefined;
    if (values['password-stdin'] === true) password = await readStdin(io);
    else if (principal === 'human') password = await promptSecret(io, 'Password');
    const user = await withRuntime(io, ({ db }) =>
      createUser(db, {
        orgId,
        email,
        role,
        password,
        displayName: str(values, 'name'),
        licenseNumber: str(values, 'license'),
        principalType: principal,
      }),
    );
    emit(
      io,
      values['json'] === true,
      { id: user.id, organizationId: user.organizationId, email: user.email, roles: user.roles },
      `created user ${user.id} (${user.email}, ${user.roles.join(', ')})`,
    );
    return 0;
  },
};
