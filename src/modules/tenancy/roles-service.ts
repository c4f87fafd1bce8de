import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import type { Principal } from '../access/principal.ts';

/** A role with its permissions. */
export interface RoleView {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly builtin: boolean;
  readonly permissions: readonly string[];
}

interface Row {
  id: string;
  name: string;
  description: string;
  is_builtin: boolean;
  permissions: string[];
}

const select = `select r.id, r.name, r.description, r.is_builtin,
       array(select rp.permission_id from ward.role_permissions rp
              where rp.organization_id = r.organization_id and rp.role_id = r.id order by rp.permission_id) as permissions
  from ward.roles r`;

const view = (r: Row): RoleView => ({
  id: r.id,
  name: r.name,
  description: r.description,
  builtin: r.is_builtin,
  permissions: r.permissions,
});

/**
 * Serializes the changes to who holds which role (assigning or removing a role, deleting or
 * narrowing a role, disabling a user) within an organization, until the transaction ends.
 * Taken before the change, so that of two administrators removing each other the second
 * waits, then sees the first's committed change in `requireRoleManager` and is refused. (The
 * auth_version triggers of migration 0012 also update the organization's row on each such
 * change, which serializes them too; this lock says so explicitly, whatever triggers exist.)
 */
export async function lockRoleManagement(tx: Tx): Promise<void> {
  await tx.query(
    "select pg_advisory_xact_lock(hashtextextended('ward.role-management:' || ward.current_org_id()::text, 0))",
  );
}

/**
 * Refuses a change that would leave the organization without an active person who can manage
 * roles: nobody could then repair roles or assignments through the API. Call it after the
 * change, in the same transaction (having taken `lockRoleManagement` before it), so the check
 * sees the result (the error rolls it back).
 */
export async function requireRoleManager(tx: Tx): Promise<void> {
  const r = await tx.query<{ ok: boolean }>(
    `select exists (
       select 1 from ward.users u
         join ward.user_roles ur on ur.organization_id = u.organization_id and ur.user_id = u.id
         join ward.role_permissions rp on rp.organization_id = ur.organization_id and rp.role_id = ur.role_id
        where u.status = 'active' and u.principal_type = 'human' and rp.permission_id = 'role:manage') as ok`,
  );
  if (r.rows[0]?.ok !== true)
    throw new WardError(
      'conflict',
      'This change would leave the organization without an active person who can manage roles',
      { reason: 'last_role_manager' },
    );
}

/** Lists the organization's roles (built-in and its own). */
export async function listRoles(tx: Tx): Promise<RoleView[]> {
  return (await tx.query<Row>(`${select} order by r.is_builtin desc, r.name`)).rows.map(view);
}

async function getRole(tx: Tx, id: string): Promise<RoleView> {
  const row = (await tx.query<Row>(`${select} where r.id = $1`, [id])).rows[0];
  if (!row) throw new WardError('not_found');
  return view(row);
}

/**
 * Checks that every permission exists, and that the caller holds it: an administrator cannot
 * mint a role more powerful than themselves (admins hold no PHI permissions, so they cannot
 * create a role that reads PHI and assign it to themselves).
 */
async function checkGrantable(
  tx: Tx,
  p: Principal,
  permissions: readonly string[],
): Promise<string[]> {
  const unique = [...new Set(permissions)];
  const known = await tx.query<{ id: string }>(
    'select id from ward.permissions where id = any($1::text[])',
    [unique],
  );
  const unknown = unique.filter((x) => !known.rows.some((k) => k.id === x));
  if (unknown.length > 0)
    throw new WardError('validation_failed', `Unknown permissions: ${unknown.join(', ')}`);
  const beyond = unique.filter((x) => !p.permissions.has(x));
  if (beyond.length > 0)
    throw new WardError(
      'forbidden',
      `You cannot grant permissions you do not hold: ${beyond.join(', ')}`,
    );
  return unique;
}

/** Creates an organization-defined role. */
export async function createRole(
  tx: Tx,
  p: Principal,
  input: { name: string; description?: string | undefined; permissions: readonly string[] },
): Promise<RoleView> {
  const permissions = await checkGrantable(tx, p, input.permissions);
  const r = await tx.query<{ id: string }>(
    'insert into ward.roles (organization_id, name, description) values ($1, $2, $3) returning id',
    [p.orgId, input.name, input.description ?? ''],
  );
  const id = (r.rows[0] as { id: string }).id;
  await tx.query(
    'insert into ward.role_permissions (organization_id, role_id, permission_id) select $1, $2, x from unnest($3::text[]) as x',
    [p.orgId, id, permissions],
  );
  await record(tx, {
    action: 'C',
    eventType: 'role.create',
    entityType: 'Role',
    entityId: id,
    metadata: { name: input.name, permissions },
  });
  return getRole(tx, id);
}

/**
 * Replaces a role's permissions. Built-in roles may be tightened (permissions removed) but not
 * widened beyond the caller's own permissions; the change applies to sessions on their next request.
 */
export async function setRolePermissions(
  tx: Tx,
  p: Principal,
  id: string,
  permissions: readonly string[],
): Promise<RoleView> {
  await lockRoleManagement(tx);
  const before = await getRole(tx, id);
  const added = permissions.filter((x) => !before.permissions.includes(x));
  await checkGrantable(tx, p, added);
  const wanted = [...new Set(permissions)];
  await tx.query(
    'delete from ward.role_permissions where role_id = $1 and not (permission_id = any($2::text[]))',
    [id, wanted],
  );
  await tx.query(
    `insert into ward.role_permissions (organization_id, role_id, permission_id)
     select $1, $2, x from unnest($3::text[]) as x on conflict do nothing`,
    [p.orgId, id, wanted],
  );
  const removed = before.permissions.filter((x) => !wanted.includes(x));
  if (removed.includes('role:manage')) await requireRoleManager(tx);
  await record(tx, {
    action: 'U',
    eventType: 'role.permissions',
    entityType: 'Role',
    entityId: id,
    metadata: { added, removed },
  });
  return getRole(tx, id);
}

/**
 * Deletes an organization-defined role that nobody holds. Built-in roles stay (their
 * permissions can be tightened instead); a role still assigned is refused rather than
 * stripped from its holders silently. The lock is taken before the check, and assignments
 * take it too, so an assignment racing the deletion either commits first (and the deletion is
 * refused) or waits and then finds no role.
 */
export async function deleteRole(tx: Tx, id: string): Promise<void> {
  await lockRoleManagement(tx);
  const role = await getRole(tx, id);
  if (role.builtin)
    throw new WardError(
      'conflict',
      'Built-in roles cannot be deleted; tighten their permissions instead',
      {
        reason: 'builtin_role',
      },
    );
  const held = await tx.query<{ n: number }>(
    'select count(*)::int as n from ward.user_roles where role_id = $1',
    [id],
  );
  const holders = held.rows[0]?.n ?? 0;
  if (holders > 0)
    throw new WardError(
      'conflict',
      'The role is still assigned; remove it from its holders first',
      {
        reason: 'role_in_use',
        holders,
      },
    );
  await tx.query('delete from ward.role_permissions where role_id = $1', [id]);
  await tx.query('delete from ward.roles where id = $1 and not is_builtin', [id]);
  await record(tx, {
    action: 'D',
    eventType: 'role.delete',
    entityType: 'Role',
    entityId: id,
    metadata: { name: role.name, permissions: [...role.permissions] },
  });
}
