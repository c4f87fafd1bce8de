import { WardError } from '../../platform/errors.ts';
import { firstRow, type Queryable } from '../../platform/db/index.ts';
import type { PrincipalType, User } from './model.ts';

interface UserRow {
  id: string;
  organization_id: string;
  email: string;
  display_name: string | null;
  principal_type: PrincipalType;
  license_number: string | null;
  status: User['status'];
  roles: string[] | null;
  created_at: Date;
}

function toUser(r: UserRow): User {
  return {
    id: r.id,
    organizationId: r.organization_id,
    email: r.email,
    displayName: r.display_name,
    principalType: r.principal_type,
    licenseNumber: r.license_number,
    status: r.status,
    roles: r.roles ?? [],
    createdAt: r.created_at.toISOString(),
  };
}

/** Inserts a user in the context organization and returns it (without roles). */
export async function insertUser(
  q: Queryable,
  input: {
    orgId: string;
    email: string;
    displayName: string | null;
    principalType: PrincipalType;
    licenseNumber: string | null;
    passwordHash: string | null;
  },
): Promise<string> {
  const r = await q.query<{ id: string }>(
    `insert into ward.users (organization_id, email, display_name, principal_type, license_number,
                             password_hash, password_changed_at)
     values ($1, $2, $3, $4, $5, $6, case when $6::text is null then null else now() end)
     returning id`,
    [
      input.orgId,
      input.email,
      input.displayName,
      input.principalType,
      input.licenseNumber,
      input.passwordHash,
    ],
  );
  return firstRow(r).id;
}

/** Assigns a role by name; returns false when the organization has no such role. */
export async function assignRoleByName(
  q: Queryable,
  input: { orgId: string; userId: string; roleName: string; grantedBy: string | null },
): Promise<boolean> {
  const r = await q.query(
    `insert into ward.user_roles (organization_id, user_id, role_id, granted_by)
     select organization_id, $2, id, $4 from ward.roles where organization_id = $1 and name = $3
     on conflict do nothing`,
    [input.orgId, input.userId, input.roleName, input.grantedBy],
  );
  return r.rowCount > 0;
}

/** Reads one user with role names. */
export async function findUser(q: Queryable, id: string): Promise<User | undefined> {
  const r = await q.query<UserRow>(
    `select u.id, u.organization_id, u.email, u.display_name, u.principal_type, u.license_number,
            u.status, u.created_at,
            array(select ro.name from ward.user_roles ur
                    join ward.roles ro on ro.organization_id = ur.organization_id and ro.id = ur.role_id
                   where ur.organization_id = u.organization_id and ur.user_id = u.id
                   order by ro.name) as roles
       from ward.users u where u.id = $1`,
    [id],
  );
  const row = r.rows[0];
  return row ? toUser(row) : undefined;
}

/** Replaces a user's password hash (an operator reset; the user's own change is password-service). */
export async function setPasswordHash(
  q: Queryable,
  orgId: string,
  userId: string,
  hash: string,
): Promise<void> {
  const r = await q.query(
    'update ward.users set password_hash = $3, password_changed_at = now() where organization_id = $1 and id = $2',
    [orgId, userId, hash],
  );
  if (r.rowCount !== 1) throw new WardError('not_found', 'No such user in the organization');
  // A new password ends every session the old one opened.
  await q.query(
    `update ward.sessions set revoked_at = now(), revoked_reason = 'password_reset'
      where organization_id = $1 and user_id = $2 and revoked_at is null`,
    [orgId, userId],
  );
}
