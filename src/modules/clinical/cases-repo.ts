import { firstRow, type Queryable } from '../../platform/db/index.ts';

export type CaseStatus = 'open' | 'in_review' | 'diagnosed' | 'treatment' | 'closed';
export type CasePriority = 'low' | 'normal' | 'high' | 'urgent';

/** A stored medical case. */
export interface CaseRow {
  id: string;
  organization_id: string;
  patient_id: string;
  status: CaseStatus;
  priority: CasePriority;
  chief_complaint_encrypted: Buffer;
  symptoms_encrypted: Buffer | null;
  tags_encrypted: Buffer | null;
  /** Legacy plaintext (rows written before migration 0022, until `ward keys rewrap`). */
  symptoms: unknown[] | null;
  /** Legacy plaintext, like `symptoms`. */
  tags: string[] | null;
  vitals: Record<string, unknown>;
  assigned_clinicians: string[];
  opened_by: string | null;
  closed_at: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const columns = `id, organization_id, patient_id, status, priority, chief_complaint_encrypted,
  symptoms_encrypted, tags_encrypted, symptoms, tags, vitals, assigned_clinicians, opened_by,
  closed_at, version, created_at, updated_at`;

/** Inserts a case whose id the caller chose (it is bound into its free text's ciphertext). */
export async function insertCase(
  q: Queryable,
  c: {
    orgId: string;
    id: string;
    patientId: string;
    priority: CasePriority;
    chiefComplaint: Buffer;
    symptoms: Buffer;
    tags: Buffer;
    vitals: Record<string, unknown>;
    assignedClinicians: readonly string[];
    openedBy: string;
  },
): Promise<CaseRow> {
  const r = await q.query<CaseRow>(
    `insert into clinical.medical_cases (organization_id, id, patient_id, priority, chief_complaint_encrypted,
                                         symptoms_encrypted, tags_encrypted, vitals, assigned_clinicians,
                                         opened_by)
     values ($1, $2, $3, $4::clinical.case_priority, $5, $6, $7, $8::jsonb, $9::uuid[], $10)
     returning ${columns}`,
    [
      c.orgId,
      c.id,
      c.patientId,
      c.priority,
      c.chiefComplaint,
      c.symptoms,
      c.tags,
      JSON.stringify(c.vitals),
      c.assignedClinicians,
      c.openedBy,
    ],
  );
  return firstRow(r);
}

/**
 * One case of the organization, or undefined. With `lock`, the row is held (FOR NO KEY UPDATE)
 * until the transaction ends, so its care team cannot change under a write decided on it.
 */
export async function findCase(
  q: Queryable,
  orgId: string,
  id: string,
  lock = false,
): Promise<CaseRow | undefined> {
  const r = await q.query<CaseRow>(
    `select ${columns} from clinical.medical_cases where organization_id = $1 and id = $2${
      lock ? ' for no key update' : ''
    }`,
    [orgId, id],
  );
  return r.rows[0];
}

/** Non-PHI filters of the case list. */
export interface CaseFilter {
  readonly patientId?: string | undefined;
  readonly status?: CaseStatus | undefined;
  readonly priority?: CasePriority | undefined;
  /** Only cases whose care team includes this user. */
  readonly clinicianId?: string | undefined;
}

/**
 * A page of the organization's cases (optionally filtered) in creation order after the
 * cursor; `limit` includes the look-ahead row; `sort_at` keeps the creation time's precision.
 */
export async function listCases(
  q: Queryable,
  orgId: string,
  filter: CaseFilter,
  after: { createdAt: string; id: string } | undefined,
  limit: number,
): Promise<(CaseRow & { sort_at: string })[]> {
  const r = await q.query<CaseRow & { sort_at: string }>(
    `select ${columns}, created_at::text as sort_at from clinical.medical_cases
      where organization_id = $1 and ($2::uuid is null or patient_id = $2)
        and ($6::clinical.case_status is null or status = $6)
        and ($7::clinical.case_priority is null or priority = $7)
        and ($8::uuid is null or $8 = any(assigned_clinicians))
        and ($3::timestamptz is null or (created_at, id) > ($3::timestamptz, $4::uuid))
      order by created_at, id limit $5`,
    [
      orgId,
      filter.patientId ?? null,
      after?.createdAt ?? null,
      after?.id ?? null,
      limit,
      filter.status ?? null,
      filter.priority ?? null,
      filter.clinicianId ?? null,
    ],
  );
  return r.rows;
}

/** Moves a case to `status` (the trigger re-checks the transition); undefined when stale. */
export async function updateCaseStatus(
  q: Queryable,
  orgId: string,
  id: string,
  from: CaseStatus,
  to: CaseStatus,
): Promise<CaseRow | undefined> {
  const r = await q.query<CaseRow>(
    `update clinical.medical_cases
        set status = $4::clinical.case_status,
            closed_at = case when $4::clinical.case_status = 'closed' then now() else null end,
            version = version + 1
      where organization_id = $1 and id = $2 and status = $3::clinical.case_status
      returning ${columns}`,
    [orgId, id, from, to],
  );
  return r.rows[0];
}

/** Replaces a case's care team. */
export async function updateCareTeam(
  q: Queryable,
  orgId: string,
  id: string,
  clinicians: readonly string[],
): Promise<CaseRow | undefined> {
  const r = await q.query<CaseRow>(
    `update clinical.medical_cases set assigned_clinicians = $3::uuid[], version = version + 1
      where organization_id = $1 and id = $2 returning ${columns}`,
    [orgId, id, clinicians],
  );
  return r.rows[0];
}

/**
 * Which of `userIds` are active people of the organization: care teams name staff who treat
 * the patient, never a disabled, locked or pending account, an agent or a service account.
 */
export async function activePeople(
  q: Queryable,
  orgId: string,
  userIds: readonly string[],
): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `select id from ward.users
      where organization_id = $1 and id = any($2::uuid[])
        and status = 'active' and principal_type = 'human'`,
    [orgId, userIds],
  );
  return r.rows.map((x) => x.id);
}
