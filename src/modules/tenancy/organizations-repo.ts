import { firstRow, type Queryable } from '../../platform/db/index.ts';
import type { Organization, OrganizationType } from './model.ts';
import { builtinRoles } from './model.ts';

interface OrganizationRow {
  id: string;
  name: string;
  type: OrganizationType;
  tax_id: string | null;
  status: Organization['status'];
  settings: Record<string, unknown>;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const columns = 'id, name, type, tax_id, status, settings, metadata, created_at, updated_at';

function toOrganization(r: OrganizationRow): Organization {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    taxId: r.tax_id,
    status: r.status,
    settings: r.settings,
    metadata: r.metadata,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Inserts an organization row. */
export async function insertOrganization(
  q: Queryable,
  input: {
    name: string;
    type: OrganizationType;
    taxId: string | null;
    settings: object;
    metadata: object;
  },
): Promise<Organization> {
  const r = await q.query<OrganizationRow>(
    `insert into ward.organizations (name, type, tax_id, settings, metadata)
     values ($1, $2, $3, $4::jsonb, $5::jsonb) returning ${columns}`,
    [
      input.name,
      input.type,
      input.taxId,
      JSON.stringify(input.settings),
      JSON.stringify(input.metadata),
    ],
  );
  return toOrganization(firstRow(r));
}

/** Reads one organization; RLS makes any organization but the caller's invisible. */
export async function findOrganization(
  q: Queryable,
  id: string,
): Promise<Organization | undefined> {
  const r = await q.query<OrganizationRow>(
    `select ${columns} from ward.organizations where id = $1`,
    [id],
  );
  const row = r.rows[0];
  return row ? toOrganization(row) : undefined;
}

/** Creates the built-in roles of a new organization with their baseline permissions. */
export async function insertBuiltinRoles(q: Queryable, orgId: string): Promise<void> {
  await q.query(
    `insert into ward.roles (organization_id, name, is_builtin, description)
     select $1, r, true, 'Built-in role ' || r from unnest($2::text[]) as r`,
    [orgId, [...builtinRoles]],
  );
  await q.query(
    `insert into ward.role_permissions (organization_id, role_id, permission_id)
     select r.organization_id, r.id, d.permission_id
       from ward.roles r join ward.default_role_permissions d on d.role_name = r.name
      where r.organization_id = $1`,
    [orgId],
  );
}
