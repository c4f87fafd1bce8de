import type { Tx } from '../../platform/db/index.ts';
import {
  decodeCursor,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import type { Principal } from './principal.ts';
import { validatePolicyDocument, type PolicyDocument } from './policy-document.ts';

/** An access policy as the API shows it. */
export interface AccessPolicyView {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly document: PolicyDocument;
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface Row {
  id: string;
  name: string;
  description: string;
  document: PolicyDocument;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}
const columns = 'id, name, description, document, enabled, created_at, updated_at';
const view = (r: Row): AccessPolicyView => ({
  id: r.id,
  name: r.name,
  description: r.description,
  document: r.document,
  enabled: r.enabled,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Lists the organization's policies by name, a page at a time. */
export async function listPolicies(tx: Tx, q: PageQuery = {}): Promise<Page<AccessPolicyView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('access-policies', q.cursor, 1);
  const r = await tx.query<Row>(
    `select ${columns} from ward.access_policies where ($1::text is null or name > $1)
      order by name limit $2`,
    [after?.[0] ?? null, limit + 1],
  );
  return toPage(r.rows, limit, 'access-policies', (x) => [x.name], view);
}

/** Reads one policy; one the caller cannot see is `not_found`. */
export async function getPolicy(tx: Tx, id: string): Promise<AccessPolicyView> {
  const r = await tx.query<Row>(`select ${columns} from ward.access_policies where id = $1`, [id]);
  const row = r.rows[0];
  if (!row) throw new WardError('not_found');
  return view(row);
}

/** Creates a policy after validating its document. */
export async function createPolicy(
  tx: Tx,
  p: Principal,
  input: {
    name: string;
    description?: string | undefined;
    document: unknown;
    enabled?: boolean | undefined;
  },
): Promise<AccessPolicyView> {
  const doc = validatePolicyDocument(input.document);
  const r = await tx.query<Row>(
    `insert into ward.access_policies (organization_id, name, description, document, enabled, created_by, updated_by)
     values ($1, $2, $3, $4::jsonb, $5, $6, $6) returning ${columns}`,
    [
      p.orgId,
      input.name,
      input.description ?? '',
      JSON.stringify(doc),
      input.enabled ?? true,
      p.userId,
    ],
  );
  const created = view(r.rows[0] as Row);
  await record(tx, {
    action: 'C',
    eventType: 'access.policy.create',
    entityType: 'AccessPolicy',
    entityId: created.id,
    metadata: { name: created.name, effect: doc.effect },
  });
  return created;
}

/** Replaces a policy's document, description or enabled flag. */
export async function updatePolicy(
  tx: Tx,
  p: Principal,
  id: string,
  input: { description?: string | undefined; document?: unknown; enabled?: boolean | undefined },
): Promise<AccessPolicyView> {
  const doc = input.document === undefined ? undefined : validatePolicyDocument(input.document);
  const r = await tx.query<Row>(
    `update ward.access_policies set description = coalesce($2, description), document = coalesce($3::jsonb, document),
            enabled = coalesce($4, enabled), updated_by = $5
      where id = $1 returning ${columns}`,
    [
      id,
      input.description ?? null,
      doc ? JSON.stringify(doc) : null,
      input.enabled ?? null,
      p.userId,
    ],
  );
  const row = r.rows[0];
  if (!row) throw new WardError('not_found');
  await record(tx, {
    action: 'U',
    eventType: 'access.policy.update',
    entityType: 'AccessPolicy',
    entityId: id,
  });
  return view(row);
}

/** Deletes a policy. */
export async function deletePolicy(tx: Tx, id: string): Promise<void> {
  const r = await tx.query('delete from ward.access_policies where id = $1', [id]);
  if (r.rowCount === 0) throw new WardError('not_found');
  await record(tx, {
    action: 'D',
    eventType: 'access.policy.delete',
    entityType: 'AccessPolicy',
    entityId: id,
  });
}
