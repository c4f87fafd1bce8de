import type { Tx } from '../../platform/db/index.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import {
  decodeCursor,
  newestFirstAfter,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';
import { record } from '../audit/record.ts';
import type { Principal } from './principal.ts';
import { parsePurpose, patientPhiFields } from './purposes.ts';

/** A cross-organization access grant (seed 2: provider access through an authorization). */
export interface GrantView {
  readonly id: string;
  readonly ownerOrganizationId: string;
  readonly granteeOrganizationId: string;
  readonly patientId: string;
  readonly permissions: readonly string[];
  readonly purposes: readonly string[];
  /** Patient fields (API names) a read through the grant may return; the owner chooses. */
  readonly fields: readonly string[];
  readonly validFrom: string;
  readonly validUntil: string;
  readonly justificationType: string;
  readonly justificationId: string;
  readonly revokedAt: string | null;
}

/** What creating a grant needs: later modules pass the record that justifies it. */
export interface GrantInput {
  readonly granteeOrganizationId: string;
  readonly patientId: string;
  readonly permissions: readonly string[];
  readonly purposes: readonly string[];
  /** Patient fields the grantee may be shown (default none: identifiers only by id and MRN). */
  readonly fields?: readonly string[] | undefined;
  readonly validUntil: string;
  readonly validFrom?: string | undefined;
  readonly justificationType: string;
  readonly justificationId: string;
}

/**
 * Patient fields a grant can disclose: the nine PHI fields, the date of death, and the
 * clinical JSON (allergies, vitals, conditions), which a read returns — with the risk category
 * it summarizes — only when all three are granted. Id, MRN and status always come with a read.
 */
export const grantableFields: ReadonlySet<string> = new Set([
  ...patientPhiFields,
  'dateOfDeath',
  'allergies',
  'vitals',
  'conditions',
]);

const grantablePermissions = new Set([
  'patient:read',
  'case:read',
  'diagnosis:read',
  'image:read',
  'treatment_plan:read',
  'policy_record:read',
  'prior_auth:read',
  'claim:read',
]);

/**
 * Grants another organization access to one of this organization's patients. Grants are
 * read-only, purpose-bound and time-boxed (at most a year); RLS honours them through
 * `ward.grant_allows()`, the evaluator through the grantee's own role permissions.
 */
export async function createGrant(tx: Tx, p: Principal, input: GrantInput): Promise<GrantView> {
  if (
    !isUuid(input.granteeOrganizationId) ||
    !isUuid(input.patientId) ||
    !isUuid(input.justificationId)
  ) {
    throw new WardError(
      'validation_failed',
      'Organization, patient and justification ids must be UUIDs',
    );
  }
  if (input.granteeOrganizationId === p.orgId)
    throw new WardError('validation_failed', 'An organization does not grant to itself');
  const bad = input.permissions.filter((x) => !grantablePermissions.has(x));
  if (bad.length > 0 || input.permissions.length === 0)
    throw new WardError('validation_failed', `Not grantable: ${bad.join(', ') || '(none given)'}`);
  const purposes = input.purposes.map((x) => parsePurpose(x));
  if (purposes.length === 0 || purposes.some((x) => x === undefined || x === 'ETREAT')) {
    throw new WardError(
      'validation_failed',
      'purposes must be known purpose-of-use codes (not ETREAT)',
    );
  }
  const fields = [...new Set(input.fields ?? [])];
  const badFields = fields.filter((f) => !grantableFields.has(f));
  if (badFields.length > 0)
    throw new WardError('validation_failed', `Not grantable fields: ${badFields.join(', ')}`);
  const from = input.validFrom ? new Date(input.validFrom) : new Date();
  const until = new Date(input.validUntil);
  if (
    Number.isNaN(from.getTime()) ||
    Number.isNaN(until.getTime()) ||
    until <= from ||
    until.getTime() - from.getTime() > 366 * 86_400_000
  ) {
    throw new WardError('validation_failed', 'validUntil must follow validFrom, within a year');
  }
  const r = await tx.query<GrantRow>(
    `insert into ward.access_grants (organization_id, grantee_organization_id, patient_id, permissions, purposes,
                                     valid_from, valid_until, justification_type, justification_id, created_by,
                                     fields)
     values ($1, $2, $3, $4::text[], $5::text[], $6, $7, $8, $9, $10, $11::text[]) returning ${grantColumns}`,
    [
      p.orgId,
      input.granteeOrganizationId,
      input.patientId,
      [...new Set(input.permissions)],
      [...new Set(purposes)],
      from,
      until,
      input.justificationType,
      input.justificationId,
      p.userId,
      fields,
    ],
  );
  const g = toView(r.rows[0] as GrantRow);
  await record(tx, {
    action: 'C',
    eventType: 'access.grant.create',
    entityType: 'AccessGrant',
    entityId: g.id,
    patientId: g.patientId,
    metadata: {
      grantee: g.granteeOrganizationId,
      permissions: g.permissions,
      fields: g.fields,
    },
  });
  return g;
}

/** Grants this organization made, and grants made to it, newest first, a page at a time. */
export async function listGrants(tx: Tx, q: PageQuery = {}): Promise<Page<GrantView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('access-grants', q.cursor, 2);
  const r = await tx.query<GrantRow & { sort_at: string }>(
    `select ${grantColumns}, created_at::text as sort_at from ward.access_grants
      where ${newestFirstAfter(1)} order by created_at desc, id desc limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  return toPage(r.rows, limit, 'access-grants', (x) => [x.sort_at, x.id], toView);
}

/** Reads one grant; one the caller cannot see is `not_found`. */
export async function getGrant(tx: Tx, id: string): Promise<GrantView> {
  const r = await tx.query<GrantRow>(
    `select ${grantColumns} from ward.access_grants where id = $1`,
    [id],
  );
  const row = r.rows[0];
  if (!row) throw new WardError('not_found');
  return toView(row);
}

/** Revokes a grant this organization made. */
export async function revokeGrant(tx: Tx, p: Principal, id: string): Promise<void> {
  const r = await tx.query(
    'update ward.access_grants set revoked_at = now(), revoked_by = $2 where id = $1 and organization_id = $3 and revoked_at is null',
    [id, p.userId, p.orgId],
  );
  if (r.rowCount === 0) throw new WardError('not_found');
  await record(tx, {
    action: 'U',
    eventType: 'access.grant.revoke',
    entityType: 'AccessGrant',
    entityId: id,
  });
}

interface GrantRow {
  id: string;
  organization_id: string;
  grantee_organization_id: string;
  patient_id: string;
  permissions: string[];
  purposes: string[];
  fields: string[];
  valid_from: Date;
  valid_until: Date;
  justification_type: string;
  justification_id: string;
  revoked_at: Date | null;
}
const grantColumns = `id, organization_id, grantee_organization_id, patient_id, permissions, purposes, fields, valid_from,
  valid_until, justification_type, justification_id, revoked_at`;

function toView(r: GrantRow): GrantView {
  return {
    id: r.id,
    ownerOrganizationId: r.organization_id,
    granteeOrganizationId: r.grantee_organization_id,
    patientId: r.patient_id,
    permissions: r.permissions,
    purposes: r.purposes,
    fields: r.fields,
    validFrom: r.valid_from.toISOString(),
    validUntil: r.valid_until.toISOString(),
    justificationType: r.justification_type,
    justificationId: r.justification_id,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}
