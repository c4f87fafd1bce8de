import type { Queryable } from '../../../platform/db/index.ts';

/**
 * Multi-row writes for bulk seeding: one statement per table per batch, with each column
 * passed as one array parameter and expanded by `unnest` (so a batch of thousands of rows is
 * a handful of round trips, and values never leave bound parameters).
 */

/** A sealed patient row ready for insertion. */
export interface BulkPatient {
  readonly id: string;
  readonly mrn: string;
  readonly sealed: Readonly<Record<string, Buffer | null>>;
  readonly allergies: readonly unknown[];
  readonly vitals: Record<string, unknown>;
  readonly conditions: readonly unknown[];
  readonly riskCategory: string;
}

const patientCipher = [
  'mrn_bidx',
  'first_name_encrypted',
  'last_name_encrypted',
  'date_of_birth_encrypted',
  'ssn_encrypted',
  'email_encrypted',
  'phone_encrypted',
  'address_encrypted',
  'emergency_contact_encrypted',
  'insurance_encrypted',
  'ssn_bidx',
  'email_bidx',
  'phone_bidx',
  'name_dob_bidx',
] as const;

/** Inserts a batch of patients of one organization. */
export async function insertPatients(
  q: Queryable,
  orgId: string,
  createdBy: string | null,
  rows: readonly BulkPatient[],
): Promise<void> {
  if (rows.length === 0) return;
  const cipher = patientCipher.map((c) => rows.map((r) => r.sealed[c] ?? null));
  const n = patientCipher.length;
  await q.query(
    `insert into clinical.patients (organization_id, created_by, id, mrn, ${patientCipher.join(', ')},
                                    allergies, vitals, conditions, risk_category)
     select $1, $2::uuid, u.id, u.mrn, ${patientCipher.map((c) => `u.${c}`).join(', ')},
            u.allergies::jsonb, u.vitals::jsonb, u.conditions::jsonb, u.risk::clinical.risk_category
       from unnest($3::uuid[], $4::text[], ${patientCipher.map((_, i) => `$${i + 5}::bytea[]`).join(', ')},
                   $${n + 5}::text[], $${n + 6}::text[], $${n + 7}::text[], $${n + 8}::text[])
         as u(id, mrn, ${patientCipher.join(', ')}, allergies, vitals, conditions, risk)`,
    [
      orgId,
      createdBy,
      rows.map((r) => r.id),
      rows.map((r) => r.mrn),
      ...cipher,
      rows.map((r) => JSON.stringify(r.allergies)),
      rows.map((r) => JSON.stringify(r.vitals)),
      rows.map((r) => JSON.stringify(r.conditions)),
      rows.map((r) => r.riskCategory),
    ],
  );
}

/** A case row ready for insertion (its free text already sealed to its id). */
export interface BulkCase {
  readonly id: string;
  readonly patientId: string;
  readonly status: string;
  readonly priority: string;
  readonly chiefComplaint: Buffer;
  readonly symptoms: Buffer;
  readonly tags: Buffer;
  readonly vitals: Record<string, unknown>;
  readonly clinicians: readonly string[];
  readonly openedBy: string;
}

/** Writes a PostgreSQL array literal of simple values (uuids), each quoted. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/**
 * Inserts a batch of cases. Cases are inserted in their final status except `closed`, which
 * the schema only reaches through an update (see `closeCases`).
 */
export async function insertCases(
  q: Queryable,
  orgId: string,
  rows: readonly BulkCase[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `insert into clinical.medical_cases (organization_id, id, patient_id, status, priority,
                                         chief_complaint_encrypted, symptoms_encrypted, vitals,
                                         tags_encrypted, assigned_clinicians, opened_by)
     select $1, u.id, u.patient_id, u.status::clinical.case_status, u.priority::clinical.case_priority,
            u.complaint, u.symptoms, u.vitals::jsonb, u.tags, u.clinicians::uuid[], u.opened_by
       from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::text[],
                   $9::bytea[], $10::text[], $11::uuid[])
         as u(id, patient_id, status, priority, complaint, symptoms, vitals, tags, clinicians, opened_by)`,
    [
      orgId,
      rows.map((r) => r.id),
      rows.map((r) => r.patientId),
      rows.map((r) => (r.status === 'closed' ? 'treatment' : r.status)),
      rows.map((r) => r.priority),
      rows.map((r) => r.chiefComplaint),
      rows.map((r) => r.symptoms),
      rows.map((r) => JSON.stringify(r.vitals)),
      rows.map((r) => r.tags),
      rows.map((r) => arrayLiteral(r.clinicians)),
      rows.map((r) => r.openedBy),
    ],
  );
}

/** Moves cases from treatment to closed (the one allowed way to close them). */
export async function closeCases(
  q: Queryable,
  orgId: string,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `update clinical.medical_cases
        set status = 'closed', closed_at = now(), version = version + 1
      where organization_id = $1 and id = any($2::uuid[]) and status = 'treatment'`,
    [orgId, ids],
  );
}

/** A diagnosis row ready for insertion (its free text already sealed to its id). */
export interface BulkDiagnosis {
  readonly id: string;
  readonly caseId: string;
  readonly patientId: string;
  readonly version: string;
  readonly code: string;
  readonly status: string;
  readonly source: string;
  readonly modelId: string | null;
  readonly modelVersion: string | null;
  readonly confidence: number | null;
  readonly evidence: Buffer;
  readonly userId: string;
  readonly reason: Buffer | null;
}

/** Inserts a batch of diagnoses; decided ones carry their decider and time. */
export async function insertDiagnoses(
  q: Queryable,
  orgId: string,
  rows: readonly BulkDiagnosis[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `insert into clinical.diagnoses (organization_id, id, case_id, patient_id, icd10_version, icd10_code,
                                     status, source, model_id, model_version, confidence,
                                     evidence_encrypted, suggested_by, decided_by, decided_at,
                                     decision_reason_encrypted)
     select $1, u.id, u.case_id, u.patient_id, u.version, u.code, u.status::clinical.diagnosis_status,
            u.source::clinical.diagnosis_source, u.model_id, u.model_version, u.confidence, u.evidence,
            u.user_id, case when u.status <> 'suggested' then u.user_id end,
            case when u.status <> 'suggested' then now() end, u.reason
       from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                   $9::text[], $10::numeric[], $11::bytea[], $12::uuid[], $13::bytea[], $14::uuid[])
         as u(case_id, patient_id, version, code, status, source, model_id, model_version, confidence,
              evidence, user_id, reason, id)`,
    [
      orgId,
      rows.map((r) => r.caseId),
      rows.map((r) => r.patientId),
      rows.map((r) => r.version),
      rows.map((r) => r.code),
      rows.map((r) => r.status),
      rows.map((r) => r.source),
      rows.map((r) => r.modelId),
      rows.map((r) => r.modelVersion),
      rows.map((r) => r.confidence),
      rows.map((r) => r.evidence),
      rows.map((r) => r.userId),
      rows.map((r) => r.reason),
      rows.map((r) => r.id),
    ],
  );
}

/** A treatment plan row ready for insertion (its free text already sealed to its id). */
export interface BulkPlan {
  readonly id: string;
  readonly caseId: string;
  readonly patientId: string;
  readonly title: Buffer;
  readonly goals: Buffer;
  readonly interventions: Buffer;
  readonly schedule: Buffer;
  readonly authorId: string;
}

/**
 * Inserts a batch of treatment plans as unreviewed drafts, the only way the schema takes a new
 * plan: `advancePlans` reviews and moves them on once their prescriptions are in.
 */
export async function insertPlans(
  q: Queryable,
  orgId: string,
  rows: readonly BulkPlan[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `insert into clinical.treatment_plans (organization_id, id, case_id, patient_id, title_encrypted,
                                           goals_encrypted, interventions_encrypted, schedule_encrypted,
                                           author_id)
     select $1, u.id, u.case_id, u.patient_id, u.title, u.goals, u.interventions, u.schedule, u.author_id
       from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
                   $9::uuid[])
         as u(id, case_id, patient_id, title, goals, interventions, schedule, author_id)`,
    [
      orgId,
      rows.map((r) => r.id),
      rows.map((r) => r.caseId),
      rows.map((r) => r.patientId),
      rows.map((r) => r.title),
      rows.map((r) => r.goals),
      rows.map((r) => r.interventions),
      rows.map((r) => r.schedule),
      rows.map((r) => r.authorId),
    ],
  );
}

/** A seeded plan's review and the status it is moved on to. */
export interface PlanAdvance {
  readonly id: string;
  readonly reviewerId: string;
  readonly to: 'active' | 'completed';
}

/**
 * Reviews drafted plans (by a clinician other than the author) and moves them along the
 * workflow the way the API does — reviewed, then active, then (for `completed`) completed —
 * through updates that the workflow trigger checks, with the versions those steps give.
 */
export async function advancePlans(
  q: Queryable,
  orgId: string,
  rows: readonly PlanAdvance[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `update clinical.treatment_plans p
        set reviewer_id = u.reviewer_id, reviewed_at = now(), status = 'active', version = p.version + 2
       from unnest($2::uuid[], $3::uuid[]) as u(id, reviewer_id)
      where p.organization_id = $1 and p.id = u.id and p.status = 'draft'`,
    [orgId, rows.map((r) => r.id), rows.map((r) => r.reviewerId)],
  );
  const done = rows.filter((r) => r.to === 'completed').map((r) => r.id);
  if (done.length === 0) return;
  await q.query(
    `update clinical.treatment_plans set status = 'completed', version = version + 1
      where organization_id = $1 and id = any($2::uuid[]) and status = 'active'`,
    [orgId, done],
  );
}

/** A prescription row ready for insertion. */
export interface BulkPrescription {
  readonly planId: string;
  readonly patientId: string;
  readonly medicationId: string;
  readonly dose: string;
  readonly route: string;
  readonly frequency: string;
  readonly startDate: string;
  readonly endDate: string | null;
  readonly prescriberId: string;
}

/** Inserts a batch of prescriptions. */
export async function insertPrescriptions(
  q: Queryable,
  orgId: string,
  rows: readonly BulkPrescription[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `insert into clinical.prescriptions (organization_id, plan_id, patient_id, medication_id, dose, route,
                                         frequency, start_date, end_date, prescriber_id)
     select $1, u.plan_id, u.patient_id, u.medication_id, u.dose, u.route, u.frequency, u.start_date,
            u.end_date, u.prescriber_id
       from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::date[],
                   $9::date[], $10::uuid[])
         as u(plan_id, patient_id, medication_id, dose, route, frequency, start_date, end_date, prescriber_id)`,
    [
      orgId,
      rows.map((r) => r.planId),
      rows.map((r) => r.patientId),
      rows.map((r) => r.medicationId),
      rows.map((r) => r.dose),
      rows.map((r) => r.route),
      rows.map((r) => r.frequency),
      rows.map((r) => r.startDate),
      rows.map((r) => r.endDate),
      rows.map((r) => r.prescriberId),
    ],
  );
}

/** Active users of the organization holding `role`, ordered by email (a stable order). */
export async function staffWithRole(q: Queryable, orgId: string, role: string): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `select u.id from ward.users u
       join ward.user_roles ur on ur.organization_id = u.organization_id and ur.user_id = u.id
       join ward.roles ro on ro.organization_id = ur.organization_id and ro.id = ur.role_id
      where u.organization_id = $1 and ro.name = $2 and u.status = 'active'
      order by u.email`,
    [orgId, role],
  );
  return r.rows.map((x) => x.id);
}

/** For each code, the newest code-set release that has it (codes missing are left out). */
export async function icd10Releases(
  q: Queryable,
  codes: readonly string[],
): Promise<Map<string, string>> {
  const r = await q.query<{ code: string; version: string }>(
    `select distinct on (code) code, version from clinical.icd10_codes
      where code = any($1::text[]) order by code, version desc`,
    [codes],
  );
  return new Map(r.rows.map((x) => [x.code, x.version]));
}

/** Catalog medication ids by `name|strength` (keys missing from the catalog are left out). */
export async function medicationIds(
  q: Queryable,
  keys: readonly string[],
): Promise<Map<string, string>> {
  const r = await q.query<{ key: string; id: string }>(
    `select distinct on (name || '|' || strength) name || '|' || strength as key, id
       from clinical.medications where name || '|' || strength = any($1::text[])
      order by name || '|' || strength, form, id`,
    [keys],
  );
  return new Map(r.rows.map((x) => [x.key, x.id]));
}

/** How many of the organization's patients have an MRN starting with `prefix-`. */
export async function countMrnPrefix(q: Queryable, orgId: string, prefix: string): Promise<number> {
  const r = await q.query<{ n: number }>(
    `select count(*)::int as n from clinical.patients where organization_id = $1 and starts_with(mrn, $2)`,
    [orgId, `${prefix}-`],
  );
  return r.rows[0]?.n ?? 0;
}
