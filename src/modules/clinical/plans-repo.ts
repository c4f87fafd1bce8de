import { firstRow, type Queryable } from '../../platform/db/index.ts';

/** A stored treatment plan. */
export interface PlanRow {
  id: string;
  organization_id: string;
  case_id: string;
  patient_id: string;
  title_encrypted: Buffer | null;
  goals_encrypted: Buffer | null;
  interventions_encrypted: Buffer | null;
  schedule_encrypted: Buffer | null;
  /** Legacy plaintext (rows written before migration 0022, until `ward keys rewrap`). */
  title: string | null;
  goals: unknown[] | null;
  interventions: unknown[] | null;
  schedule: Record<string, unknown> | null;
  status: 'draft' | 'active' | 'completed' | 'cancelled';
  author_id: string;
  reviewer_id: string | null;
  reviewed_at: Date | null;
  version: number;
  created_at: Date;
}

/** A stored prescription with its medication's name. */
export interface PrescriptionRow {
  id: string;
  plan_id: string;
  medication_id: string;
  medication_name: string;
  dose: string;
  route: string;
  frequency: string;
  start_date: string;
  end_date: string | null;
  prescriber_id: string;
  created_at: Date;
}

const planColumns = `id, organization_id, case_id, patient_id, title_encrypted, goals_encrypted,
  interventions_encrypted, schedule_encrypted, title, goals, interventions, schedule, status,
  author_id, reviewer_id, reviewed_at, version, created_at`;

/** Inserts a draft plan whose id the caller chose (bound into its free text's ciphertext). */
export async function insertPlan(
  q: Queryable,
  p: {
    orgId: string;
    id: string;
    caseId: string;
    patientId: string;
    title: Buffer;
    goals: Buffer;
    interventions: Buffer;
    schedule: Buffer;
    authorId: string;
  },
): Promise<PlanRow> {
  const r = await q.query<PlanRow>(
    `insert into clinical.treatment_plans (organization_id, id, case_id, patient_id, title_encrypted,
                                           goals_encrypted, interventions_encrypted, schedule_encrypted,
                                           author_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     returning ${planColumns}`,
    [
      p.orgId,
      p.id,
      p.caseId,
      p.patientId,
      p.title,
      p.goals,
      p.interventions,
      p.schedule,
      p.authorId,
    ],
  );
  return firstRow(r);
}

/** One plan of the organization, or undefined. */
export async function findPlan(
  q: Queryable,
  orgId: string,
  id: string,
): Promise<PlanRow | undefined> {
  const r = await q.query<PlanRow>(
    `select ${planColumns} from clinical.treatment_plans where organization_id = $1 and id = $2`,
    [orgId, id],
  );
  return r.rows[0];
}

/** Inserts a prescription into a plan. */
export async function insertPrescription(
  q: Queryable,
  p: {
    orgId: string;
    planId: string;
    patientId: string;
    medicationId: string;
    dose: string;
    route: string;
    frequency: string;
    startDate: string;
    endDate: string | null;
    prescriberId: string;
  },
): Promise<string> {
  const r = await q.query<{ id: string }>(
    `insert into clinical.prescriptions (organization_id, id, plan_id, patient_id, medication_id, dose, route,
                                         frequency, start_date, end_date, prescriber_id)
     values ($1, gen_random_uuid(), $2, $3, $4, $5, $6, $7, $8::date, $9::date, $10) returning id`,
    [
      p.orgId,
      p.planId,
      p.patientId,
      p.medicationId,
      p.dose,
      p.route,
      p.frequency,
      p.startDate,
      p.endDate,
      p.prescriberId,
    ],
  );
  return firstRow(r).id;
}

/** A plan's prescriptions in order of writing. */
export async function listPrescriptions(
  q: Queryable,
  orgId: string,
  planId: string,
): Promise<PrescriptionRow[]> {
  const r = await q.query<PrescriptionRow>(
    `select p.id, p.plan_id, p.medication_id, m.name || ' ' || m.strength || ' ' || m.form as medication_name,
            p.dose, p.route, p.frequency, p.start_date::text as start_date, p.end_date::text as end_date,
            p.prescriber_id, p.created_at
       from clinical.prescriptions p join clinical.medications m on m.id = p.medication_id
      where p.organization_id = $1 and p.plan_id = $2 order by p.created_at, p.id`,
    [orgId, planId],
  );
  return r.rows;
}

/** A catalog medication. */
export interface MedicationRow {
  id: string;
  name: string;
  rxnorm_code: string | null;
  form: string;
  strength: string;
}

/** Catalog medications whose name starts with `prefix` (case-insensitive), by name. */
export async function searchMedications(
  q: Queryable,
  prefix: string,
  limit: number,
): Promise<MedicationRow[]> {
  const r = await q.query<MedicationRow>(
    `select id, name, rxnorm_code, form, strength from clinical.medications
      where lower(name) like $1 || '%' order by name, strength limit $2`,
    [prefix.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`), limit],
  );
  return r.rows;
}

/** Moves a plan to `status` if it is still at `version`; undefined when stale. */
export async function updatePlanStatus(
  q: Queryable,
  orgId: string,
  id: string,
  version: number,
  status: PlanRow['status'],
): Promise<PlanRow | undefined> {
  const r = await q.query<PlanRow>(
    `update clinical.treatment_plans set status = $4::clinical.plan_status, version = version + 1
      where organization_id = $1 and id = $2 and version = $3
      returning ${planColumns}`,
    [orgId, id, version, status],
  );
  return r.rows[0];
}

/**
 * Moves a draft, unreviewed plan to its next version (its row locked until the transaction
 * ends) and returns that version; undefined when the plan is reviewed or no longer a draft.
 */
export async function touchDraftPlan(
  q: Queryable,
  orgId: string,
  id: string,
): Promise<number | undefined> {
  const r = await q.query<{ version: number }>(
    `update clinical.treatment_plans set version = version + 1
      where organization_id = $1 and id = $2 and status = 'draft' and reviewer_id is null
      returning version`,
    [orgId, id],
  );
  return r.rows[0]?.version;
}

/** Records a plan's review if it is still at `version` and unreviewed; undefined otherwise. */
export async function markPlanReviewed(
  q: Queryable,
  orgId: string,
  id: string,
  version: number,
  reviewerId: string,
): Promise<PlanRow | undefined> {
  const r = await q.query<PlanRow>(
    `update clinical.treatment_plans
        set reviewer_id = $4, reviewed_at = now(), version = version + 1
      where organization_id = $1 and id = $2 and version = $3 and reviewer_id is null
      returning ${planColumns}`,
    [orgId, id, version, reviewerId],
  );
  return r.rows[0];
}
