import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { openFields } from '../crypto/open-fields.ts';
import type { CaseRow } from './cases-repo.ts';
import { planColumns } from './encrypted-columns.ts';
import { jsonValue } from './free-text.ts';
import { isIsoDate } from './patient-fields.ts';
import * as repo from './plans-repo.ts';

const table = `${planColumns.title.schema}.${planColumns.title.table}`;

/** The PHI fields a plan view returns (its free text, decrypted). */
export const planPhiFields = ['title', 'goals', 'interventions', 'schedule'] as const;

/** What writing a plan takes. */
export interface PlanCreate {
  title: string;
  goals?: unknown[];
  interventions?: unknown[];
  schedule?: Record<string, unknown>;
}

/** What prescribing takes. */
export interface PrescriptionCreate {
  medicationId: string;
  dose: string;
  route: string;
  frequency: string;
  startDate: string;
  endDate?: string;
}

/** The API view of a plan, its free text decrypted (or read from a legacy row). */
export async function planView(tx: Tx, codec: FieldCodec, p: repo.PlanRow) {
  const text = await openFields(
    codec,
    tx,
    { orgId: p.organization_id, table, rowId: p.id },
    p,
    planColumns,
  );
  return {
    id: p.id,
    caseId: p.case_id,
    patientId: p.patient_id,
    title: text.title ?? '',
    goals: jsonValue<unknown[]>(text.goals, []),
    interventions: jsonValue<unknown[]>(text.interventions, []),
    schedule: jsonValue<Record<string, unknown>>(text.schedule, {}),
    status: p.status,
    authorId: p.author_id,
    reviewerId: p.reviewer_id,
    reviewedAt: p.reviewed_at?.toISOString() ?? null,
    version: p.version,
    createdAt: p.created_at.toISOString(),
  };
}

/** The API view of a prescription. */
export function prescriptionView(p: repo.PrescriptionRow) {
  return {
    id: p.id,
    planId: p.plan_id,
    medicationId: p.medication_id,
    medicationName: p.medication_name,
    dose: p.dose,
    route: p.route,
    frequency: p.frequency,
    startDate: p.start_date,
    endDate: p.end_date,
    prescriberId: p.prescriber_id,
    createdAt: p.created_at.toISOString(),
  };
}

/** Writes a draft plan for an open case, its free text encrypted. */
export async function writePlan(
  tx: Tx,
  codec: FieldCodec,
  c: CaseRow,
  authorId: string,
  input: PlanCreate,
): Promise<repo.PlanRow> {
  if (c.status === 'closed') throw new WardError('conflict', 'The case is closed');
  const id = randomUUID();
  const sealed = await codec.encryptRow(
    tx,
    { orgId: c.organization_id, table, rowId: id },
    {
      [planColumns.title.column]: input.title,
      [planColumns.goals.column]: JSON.stringify(input.goals ?? []),
      [planColumns.interventions.column]: JSON.stringify(input.interventions ?? []),
      [planColumns.schedule.column]: JSON.stringify(input.schedule ?? {}),
    },
  );
  const at = (column: string) => sealed[column] as Buffer;
  return repo.insertPlan(tx, {
    orgId: c.organization_id,
    id,
    caseId: c.id,
    patientId: c.patient_id,
    title: at(planColumns.title.column),
    goals: at(planColumns.goals.column),
    interventions: at(planColumns.interventions.column),
    schedule: at(planColumns.schedule.column),
    authorId,
  });
}

/** Loads a plan of the organization or fails with a 404. */
export async function loadPlan(tx: Tx, orgId: string, id: string): Promise<repo.PlanRow> {
  const p = await repo.findPlan(tx, orgId, id);
  if (!p) throw new WardError('not_found');
  return p;
}

/**
 * Adds a prescription to a draft plan that has not been reviewed; dates must be real and
 * ordered. The review vouches for the plan as it stood, prescriptions included, so a reviewed
 * or active plan takes no new ones (write a new plan instead). Each prescription moves the
 * plan to a new version under its row lock: a review sent with the version read before it is
 * refused as stale (412), so nobody reviews a prescription they have not seen.
 */
export async function prescribe(
  tx: Tx,
  orgId: string,
  plan: repo.PlanRow,
  prescriberId: string,
  input: PrescriptionCreate,
): Promise<{ prescriptions: repo.PrescriptionRow[]; planVersion: number }> {
  refuseUnlessOpenDraft(plan);
  if (!isIsoDate(input.startDate) || (input.endDate !== undefined && !isIsoDate(input.endDate)))
    throw new WardError('validation_failed', 'Dates must be calendar dates (YYYY-MM-DD)');
  if (input.endDate !== undefined && input.endDate < input.startDate)
    throw new WardError('validation_failed', 'endDate is before startDate');
  const version = await repo.touchDraftPlan(tx, orgId, plan.id);
  // Reviewed or moved on since it was loaded (a concurrent review committed first).
  if (version === undefined) {
    const now = await repo.findPlan(tx, orgId, plan.id);
    refuseUnlessOpenDraft(now ?? plan);
    throw new WardError('precondition_failed');
  }
  await repo.insertPrescription(tx, {
    orgId,
    planId: plan.id,
    patientId: plan.patient_id,
    medicationId: input.medicationId,
    dose: input.dose,
    route: input.route,
    frequency: input.frequency,
    startDate: input.startDate,
    endDate: input.endDate ?? null,
    prescriberId,
  });
  return { prescriptions: await repo.listPrescriptions(tx, orgId, plan.id), planVersion: version };
}

function refuseUnlessOpenDraft(plan: repo.PlanRow): void {
  if (plan.status !== 'draft')
    throw new WardError('conflict', `A ${plan.status} plan takes no new prescriptions`, {
      reason: 'plan_not_draft',
    });
  if (plan.reviewer_id !== null)
    throw new WardError(
      'conflict',
      'The plan was reviewed: it takes no new prescriptions (write a new plan)',
      { reason: 'reviewed' },
    );
}

/** A plan's prescriptions. */
export function planPrescriptions(
  tx: Tx,
  orgId: string,
  planId: string,
): Promise<repo.PrescriptionRow[]> {
  return repo.listPrescriptions(tx, orgId, planId);
}

/** Searches the medication catalog by name prefix. */
export function findMedications(tx: Tx, prefix: string): Promise<repo.MedicationRow[]> {
  return repo.searchMedications(tx, prefix, 25);
}

/** A plan's status. */
export type PlanStatus = repo.PlanRow['status'];

// The plan workflow (mirrored by clinical.plan_transition_allowed in the database).
const nextPlan: Readonly<Record<PlanStatus, readonly PlanStatus[]>> = {
  draft: ['active', 'cancelled'],
  active: ['completed', 'cancelled'],
  completed: [],
  cancelled: [],
};

function checkVersion(plan: repo.PlanRow, expected: number): void {
  if (plan.version !== expected) throw new WardError('precondition_failed');
}

/**
 * Moves a plan along its workflow from the version the caller read (412 when stale); an
 * invalid move is a 409, and a plan becomes active only after its review.
 */
export async function transitionPlan(
  tx: Tx,
  plan: repo.PlanRow,
  expected: number,
  to: PlanStatus,
): Promise<repo.PlanRow> {
  checkVersion(plan, expected);
  if (!nextPlan[plan.status].includes(to))
    throw new WardError('conflict', `A plan cannot move from ${plan.status} to ${to}`, {
      reason: 'invalid_transition',
    });
  if (to === 'active' && plan.reviewed_at === null)
    throw new WardError('conflict', 'A plan is reviewed before it becomes active', {
      reason: 'review_required',
    });
  const moved = await repo.updatePlanStatus(tx, plan.organization_id, plan.id, expected, to);
  if (!moved) throw new WardError('precondition_failed');
  return moved;
}

/**
 * Records the review of a draft plan by a clinician other than its author (403 for the
 * author, 409 when already reviewed or no longer a draft, 412 when stale).
 */
export async function reviewPlan(
  tx: Tx,
  plan: repo.PlanRow,
  expected: number,
  reviewerId: string,
): Promise<repo.PlanRow> {
  checkVersion(plan, expected);
  if (plan.author_id === reviewerId)
    throw new WardError('forbidden', 'A plan is reviewed by a clinician other than its author', {
      reason: 'author_cannot_review',
    });
  if (plan.reviewer_id !== null)
    throw new WardError('conflict', 'The plan was already reviewed', { reason: 'reviewed' });
  if (plan.status !== 'draft')
    throw new WardError('conflict', `A ${plan.status} plan is not reviewed`, {
      reason: 'invalid_transition',
    });
  const done = await repo.markPlanReviewed(tx, plan.organization_id, plan.id, expected, reviewerId);
  if (!done) throw new WardError('precondition_failed');
  return done;
}
