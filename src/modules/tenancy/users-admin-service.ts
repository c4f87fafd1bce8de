import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import {
  decodeCursor,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';
import { record } from '../audit/record.ts';
import { lockRoleManagement, requireRoleManager } from './roles-service.ts';
import type { Principal } from '../access/principal.ts';
import { revokeAllFor } from '../auth/session-service.ts';

/**
 * Whether `id` (as the request spelled it) is the caller: UUIDs compare case-insensitively,
 * exactly as PostgreSQL compares them, so an upper-case spelling is still oneself.
 */
function isSelf(p: Principal, id: string): boolean {
  return id.toLowerCase() === p.userId.toLowerCase();
}

/** A user as administrators list them. */
export interface UserAdminView {
  readonly id: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly principalType: string;
  readonly status: string;
  readonly roles: readonly string[];
  readonly licenseNumber: string | null;
  readonly failedLoginAttempts: number;
  readonly lockedUntil: string | null;
  readonly lastLoginAt: string | null;
  readonly createdAt: string;
}

interface Row {
  id: string;
  email: string;
  display_name: string | null;
  principal_type: string;
  status: string;
  roles: string[];
  license_number: string | null;
  failed_login_attempts: number;
  locked_until: Date | null;
  last_login_at: Date | null;
  created_at: Date;
}

const columns = `u.id, u.email, u.display_name, u.principal_type, u.status, u.license_number,
       u.failed_login_attempts, u.locked_until, u.last_login_at, u.created_at,
       array(select r.name from ward.user_roles ur join ward.roles r on r.organization_id = ur.organization_id
               and r.id = ur.role_id where ur.organization_id = u.organization_id and ur.user_id = u.id
              order by r.name) as roles`;
const select = `select ${columns} from ward.users u`;

const view = (r: Row): UserAdminView => ({
  id: r.id,
  email: r.email,
  displayName: r.display_name,
  principalType: r.principal_type,
  status: r.status,
  roles: r.roles,
  licenseNumber: r.license_number,
  failedLoginAttempts: r.failed_login_attempts,
  lockedUntil: r.locked_until?.toISOString() ?? null,
  lastLoginAt: r.last_login_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
});

/**
 * Lists the organization's users (RLS scopes the query), oldest first, a page at a time. The
 * cursor holds the last row's (created_at, id), never an email.
 */
export async function listUsers(tx: Tx, q: PageQuery = {}): Promise<Page<UserAdminView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('users', q.cursor, 2);
  const r = await tx.query<Row & { sort_at: string }>(
    `select ${columns}, u.created_at::text as sort_at from ward.users u
      where ($1::timestamptz is null or (u.created_at, u.id) > ($1::timestamptz, $2::uuid))
      order by u.created_at, u.id limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  return toPage(r.rows, limit, 'users', (x) => [x.sort_at, x.id], view);
}

/** Reads one user. */
export async function getUser(tx: Tx, id: string): Promise<UserAdminView> {
  const r = await tx.query<Row>(`${select} where u.id = $1`, [id]);
  const row = r.rows[0];
  if (!row) throw new WardError('not_found');
  return view(row);
}

/**
 * Changes a user's status or profile. Disabling ends every session and API key use at once
 * (the authenticate functions refuse inactive users on the next request).
 */
export async function updateUser(
  tx: Tx,
  p: Principal,
  id: string,
  input: {
    status?: 'active' | 'disabled' | undefined;
    displayName?: string | undefined;
    licenseNumber?: string | undefined;
  },
): Promise<UserAdminView> {
  if (input.status === 'disabled' && isSelf(p, id))
    throw new WardError('conflict', 'You cannot disable yourself');
  if (input.status === 'disabled') await lockRoleManagement(tx);
  const r = await tx.query(
    `update ward.users set status = coalesce($2::ward.user_status, status), display_name = coalesce($3, display_name),
            license_number = coalesce($4, license_number) where id = $1`,
    [id, input.status ?? null, input.displayName ?? null, input.licenseNumber ?? null],
  );
  if (r.rowCount === 0) throw new WardError('not_found');
  if (input.status === 'disabled') {
    await requireRoleManager(tx);
    await revokeAllFor(tx, id, 'user_disabled');
  }
  await record(tx, {
    action: 'U',
    eventType: 'user.update',
    entityType: 'User',
    entityId: id,
    metadata: { status: input.status ?? null },
  });
  return getUser(tx, id);
}

/**
 * The permission that assigning a role takes, whoever the user is and whenever it happens: on
 * an existing user (`POST /users/{id}/roles`) and on a user being created (`POST /users`), so
 * that creating an account is never a way around role management.
 */
export const roleAssignmentPermission = 'role:manage';

/**
 * Assigns or removes a role by name. Nobody gives themselves a role with permissions they do
 * not already hold (an administrator holds no PHI permissions and cannot make themselves a
 * doctor), and nobody removes the last role-manager role from the organization.
 */
export async function setUserRole(
  tx: Tx,
  p: Principal,
  id: string,
  role: string,
  assign: boolean,
): Promise<UserAdminView> {
  // Assignments and removals take the role-management lock first, so that a role's deletion
  // (which checks that nobody holds it) never races an assignment of it.
  await lockRoleManagement(tx);
  const roleRow = await tx.query<{ id: string; permissions: string[] }>(
    `select r.id, array(select rp.permission_id from ward.role_permissions rp
                         where rp.organization_id = r.organization_id and rp.role_id = r.id) as permissions
       from ward.roles r where r.name = $1`,
    [role],
  );
  const found = roleRow.rows[0];
  const roleId = found?.id;
  if (!roleId)
    throw new WardError('validation_failed', `The organization has no role named "${role}"`);
  await getUser(tx, id);
  if (assign && isSelf(p, id)) {
    const beyond = found.permissions.filter((x) => !p.permissions.has(x));
    if (beyond.length > 0)
      throw new WardError(
        'forbidden',
        `You cannot give yourself permissions you do not hold: ${beyond.join(', ')}`,
        { reason: 'self_escalation' },
      );
  }
  if (assign) {
    await tx.query(
      `insert into ward.user_roles (organization_id, user_id, role_id, granted_by) values ($1, $2, $3, $4) on conflict do nothing`,
      [p.orgId, id, roleId, p.userId],
    );
  } else {
    await tx.query('delete from ward.user_roles where user_id = $1 and role_id = $2', [id, roleId]);
    await requireRoleManager(tx);
  }
  await record(tx, {
    action: 'U',
    eventType: assign ? 'user.role.assign' : 'user.role.remove',
    entityType: 'User',
    entityId: id,
    metadata: { role },
  });
  return getUser(tx, id);
}

/**
 * Lifts a lockout: clears the account's throttle (through ward.clear_account_throttle, which
 * only reaches the caller's own users) and the counters mirrored on the user row.
 */
export async function unlockUser(tx: Tx, id: string): Promise<UserAdminView> {
  await getUser(tx, id);
  await tx.query(
    'update ward.users set failed_login_attempts = 0, locked_until = null where id = $1',
    [id],
  );
  await tx.query('select ward.clear_account_throttle($1)', [id]);
  await record(tx, { action: 'U', eventType: 'user.unlock', entityType: 'User', entityId: id });
  return getUser(tx, id);
}
