import { createHash, randomUUID } from 'node:crypto';
import type { Database, Tx } from '../../../platform/db/index.ts';
import { isUuid } from '../../../platform/db/index.ts';
import { WardError } from '../../../platform/errors.ts';
import { record } from '../../audit/record.ts';
import { nameDobValue } from '../../crypto/blind-index.ts';
import type { FieldCodec } from '../../crypto/codec.ts';
import { findOrganization } from '../../tenancy/organizations-repo.ts';
import {
  caseColumns,
  chiefComplaintColumn,
  diagnosisColumns,
  patientIndexes,
  planColumns,
} from '../encrypted-columns.ts';
import { patientsTable, phiColumn } from '../patient-fields.ts';
import type { PatientPhiField } from '../../access/purposes.ts';
import * as bulk from './bulk-repo.ts';
import { generatePatient, syntheticMrn, type SyntheticPatient } from './generate.ts';
import { presentationCodes, presentationMedications } from './vocabulary.ts';

/** What one seeding run writes. */
export interface SeedOptions {
  readonly orgId: string;
  /** Number of patients (cases, diagnoses and plans follow in proportion). */
  readonly count: number;
  /** The run's seed: the same seed always generates the same logical data. */
  readonly seed: string;
  /** MRN prefix; defaults to one derived from the seed, so two seeds never collide. */
  readonly mrnPrefix?: string;
  /** Patients per transaction (default 250). */
  readonly batchSize?: number;
  /**
   * Continue a run of this seed that stopped part-way (killed, or a failed batch): the patients
   * it already committed are kept and generation goes on from the next index, up to `count`.
   * Without it, a seed that has already written patients to the organization is refused.
   */
  readonly resume?: boolean;
  /** Called after each committed batch with the number of patients of the run that exist. */
  readonly onProgress?: (done: number) => void;
}

/** Row counts of a seeding run. */
export interface SeedCounts {
  patients: number;
  cases: number;
  diagnoses: number;
  plans: number;
  prescriptions: number;
}

/** What a seeding run did (its counts are what this invocation wrote). */
export interface SeedResult extends SeedCounts {
  readonly mrnPrefix: string;
  /** How many patients of the run existed before this invocation (0 unless resuming). */
  readonly resumedFrom: number;
  readonly batches: number;
  readonly elapsedMs: number;
}

/** The largest run one command accepts (bigger sets are several runs with different seeds). */
export const maxSeedCount = 10_000_000;

/** The MRN prefix of a seed: `S` and 8 hex digits of its hash (MRNs stay short and distinct). */
export function mrnPrefixForSeed(seed: string): string {
  return `S${createHash('sha256').update(seed, 'utf8').digest('hex').slice(0, 8).toUpperCase()}`;
}

interface References {
  readonly doctors: readonly string[];
  readonly nurses: readonly string[];
  readonly releases: ReadonlyMap<string, string>;
  readonly medications: ReadonlyMap<string, string>;
}

const phiFields = Object.keys(phiColumn) as PatientPhiField[];

/** The encrypted free text a batch writes (API names), for its audit event. */
const freeTextFields = [
  'chiefComplaint',
  ...Object.keys(caseColumns),
  ...Object.keys(diagnosisColumns),
  ...Object.keys(planColumns),
];

/** Seals one row's values (column → plaintext) under the organization's primary key. */
async function sealRow(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  table: string,
  rowId: string,
  plain: Record<string, string | null>,
): Promise<Record<string, Buffer | null>> {
  return codec.encryptRow(tx, { orgId, table: `clinical.${table}`, rowId }, plain);
}

/**
 * Writes `count` synthetic patients with their cases, diagnoses, treatment plans and
 * prescriptions into one organization. Work is batched: each batch is one transaction under
 * the organization's own context (RLS applies) with multi-row inserts, PHI sealed through the
 * field codec, and one `clinical.seed` audit event that commits with the rows it describes.
 * A seed already used in the organization is refused (`conflict`) instead of duplicated.
 */
export async function seedSyntheticPatients(
  db: Database,
  codec: FieldCodec,
  opts: SeedOptions,
): Promise<SeedResult> {
  if (!isUuid(opts.orgId))
    throw new WardError('validation_failed', 'The organization id must be a UUID');
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > maxSeedCount)
    throw new WardError(
      'validation_failed',
      `The patient count must be an integer from 1 to ${maxSeedCount}`,
    );
  const started = performance.now();
  const prefix = opts.mrnPrefix ?? mrnPrefixForSeed(opts.seed);
  const ctx = { orgId: opts.orgId, actorType: 'system' as const, purpose: 'HSYSADMIN' };
  const { refs, existing } = await db.withContext(ctx, async (tx) => ({
    refs: await resolveReferences(tx, opts.orgId),
    existing: await writtenOfRun(tx, opts.orgId, prefix),
  }));
  if (existing > 0 && opts.resume !== true)
    throw new WardError(
      'conflict',
      `This seed has already written ${existing} patients to the organization (MRN prefix ${prefix}): resume the run (--resume) or choose another seed`,
    );
  const batchSize = opts.batchSize ?? 250;
  const totals: SeedCounts = { patients: 0, cases: 0, diagnoses: 0, plans: 0, prescriptions: 0 };
  let batches = 0;
  if (existing > 0) opts.onProgress?.(Math.min(existing, opts.count));
  for (let from = existing; from < opts.count; from += batchSize) {
    const to = Math.min(opts.count, from + batchSize);
    const people: SyntheticPatient[] = [];
    for (let i = from; i < to; i++) people.push(generatePatient(opts.seed, prefix, i));
    const counts = await db.withContext(ctx, async (tx) => {
      const c = await writeBatch(tx, codec, opts.orgId, refs, people);
      await record(tx, {
        action: 'C',
        eventType: 'clinical.seed',
        entityType: 'Organization',
        entityId: opts.orgId,
        actorType: 'system',
        phiFields: [...phiFields, ...freeTextFields],
        metadata: { synthetic: true, mrnPrefix: prefix, firstIndex: from, lastIndex: to - 1, ...c },
      });
      return c;
    });
    for (const k of Object.keys(totals) as (keyof SeedCounts)[]) totals[k] += counts[k];
    batches++;
    opts.onProgress?.(to);
  }
  return {
    ...totals,
    mrnPrefix: prefix,
    resumedFrom: existing,
    batches,
    elapsedMs: performance.now() - started,
  };
}

/**
 * How many patients of the run with MRN prefix `prefix` the organization holds. Batches commit
 * in index order, each whole or not at all, so a stopped run holds exactly its first N; any
 * other shape (rows deleted, a hand-made MRN with the prefix) is refused rather than guessed at.
 */
async function writtenOfRun(tx: Tx, orgId: string, prefix: string): Promise<number> {
  const n = await bulk.countMrnPrefix(tx, orgId, prefix);
  if (n === 0) return 0;
  const last = await tx.query('select 1 from clinical.patients where mrn = $1', [
    syntheticMrn(prefix, n - 1),
  ]);
  if (last.rows.length === 0)
    throw new WardError(
      'conflict',
      `The organization holds ${n} patients with this seed's MRN prefix, but not its first ${n}; the run cannot be resumed`,
    );
  return n;
}

async function resolveReferences(tx: Tx, orgId: string): Promise<References> {
  const org = await findOrganization(tx, orgId);
  if (!org) throw new WardError('not_found', 'The organization does not exist');
  const doctors = await bulk.staffWithRole(tx, orgId, 'doctor');
  const nurses = await bulk.staffWithRole(tx, orgId, 'nurse');
  if (doctors.length === 0)
    throw new WardError(
      'validation_failed',
      'The organization has no active doctor to author synthetic cases; create one first',
    );
  const codes = presentationCodes();
  const releases = await bulk.icd10Releases(tx, codes);
  const missingCodes = codes.filter((c) => !releases.has(c));
  if (missingCodes.length > 0)
    throw new WardError(
      'validation_failed',
      `ICD-10-CM codes missing from every release: ${missingCodes.join(', ')}`,
    );
  const meds = presentationMedications();
  const medications = await bulk.medicationIds(tx, meds);
  const missingMeds = meds.filter((m) => !medications.has(m));
  if (missingMeds.length > 0)
    throw new WardError(
      'validation_failed',
      `Medications missing from the catalog: ${missingMeds.join(', ')}`,
    );
  return { doctors, nurses, releases, medications };
}

const at = <T>(list: readonly T[], n: number): T => {
  const v = list[n % list.length];
  if (v === undefined) throw new Error('empty staff list');
  return v;
};

async function sealPatient(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  id: string,
  p: SyntheticPatient,
): Promise<Record<string, Buffer | null>> {
  const plain: Record<string, string | null> = {};
  for (const f of phiFields) {
    const v = p.phi[f];
    // JSON fields (address, contact, insurance) are stored as their JSON text, like the API does.
    plain[phiColumn[f]] = v === null ? null : typeof v === 'string' ? v : JSON.stringify(v);
  }
  const sealed: Record<string, Buffer | null> = {
    ...(await codec.encryptRow(tx, { orgId, table: patientsTable, rowId: id }, plain)),
  };
  sealed['mrn_bidx'] = await codec.blindIndex(tx, orgId, patientIndexes.mrn, p.mrn);
  sealed['ssn_bidx'] = p.phi.ssn
    ? await codec.blindIndex(tx, orgId, patientIndexes.ssn, p.phi.ssn)
    : null;
  sealed['email_bidx'] = p.phi.email
    ? await codec.blindIndex(tx, orgId, patientIndexes.email, p.phi.email)
    : null;
  sealed['phone_bidx'] = p.phi.phone
    ? await codec.blindIndex(tx, orgId, patientIndexes.phone, p.phi.phone)
    : null;
  sealed['name_dob_bidx'] = await codec.blindIndex(
    tx,
    orgId,
    patientIndexes.nameDob,
    nameDobValue(p.phi.lastName, p.phi.dateOfBirth),
  );
  return sealed;
}

async function writeBatch(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  refs: References,
  people: readonly SyntheticPatient[],
): Promise<SeedCounts> {
  const patients: bulk.BulkPatient[] = [];
  const cases: bulk.BulkCase[] = [];
  const toClose: string[] = [];
  const diagnoses: bulk.BulkDiagnosis[] = [];
  const plans: bulk.BulkPlan[] = [];
  const prescriptions: bulk.BulkPrescription[] = [];
  const advances: bulk.PlanAdvance[] = [];
  for (const p of people) {
    const patientId = randomUUID();
    patients.push({
      id: patientId,
      mrn: p.mrn,
      sealed: await sealPatient(tx, codec, orgId, patientId, p),
      allergies: p.allergies,
      vitals: p.vitals,
      conditions: p.conditions,
      riskCategory: p.riskCategory,
    });
    for (const c of p.cases) {
      const caseId = randomUUID();
      const doctor = at(refs.doctors, c.doctor);
      const nurse = c.nurse === null || refs.nurses.length === 0 ? null : at(refs.nurses, c.nurse);
      const sealedCase = await sealRow(tx, codec, orgId, 'medical_cases', caseId, {
        [chiefComplaintColumn.column]: c.complaint,
        [caseColumns.symptoms.column]: JSON.stringify(c.symptoms),
        [caseColumns.tags.column]: JSON.stringify(c.tags),
      });
      cases.push({
        id: caseId,
        patientId,
        status: c.status,
        priority: c.priority,
        chiefComplaint: sealedCase[chiefComplaintColumn.column] as Buffer,
        symptoms: sealedCase[caseColumns.symptoms.column] as Buffer,
        tags: sealedCase[caseColumns.tags.column] as Buffer,
        vitals: c.vitals,
        clinicians: nurse ? [doctor, nurse] : [doctor],
        openedBy: nurse ?? doctor,
      });
      if (c.status === 'closed') toClose.push(caseId);
      for (const d of c.diagnoses) {
        const diagnosisId = randomUUID();
        const sealedDiagnosis = await sealRow(tx, codec, orgId, 'diagnoses', diagnosisId, {
          [diagnosisColumns.evidence.column]: JSON.stringify(d.evidence),
          [diagnosisColumns.decisionReason.column]: d.reason,
        });
        diagnoses.push({
          id: diagnosisId,
          caseId,
          patientId,
          version: refs.releases.get(d.code) ?? '',
          code: d.code,
          status: d.status,
          source: d.source,
          modelId: d.model?.id ?? null,
          modelVersion: d.model?.version ?? null,
          confidence: d.confidence,
          evidence: sealedDiagnosis[diagnosisColumns.evidence.column] as Buffer,
          userId: doctor,
          reason: sealedDiagnosis[diagnosisColumns.decisionReason.column] ?? null,
        });
      }
      if (c.plan) {
        const planId = randomUUID();
        const sealedPlan = await sealRow(tx, codec, orgId, 'treatment_plans', planId, {
          [planColumns.title.column]: c.plan.title,
          [planColumns.goals.column]: JSON.stringify(c.plan.goals),
          [planColumns.interventions.column]: JSON.stringify(c.plan.interventions),
          [planColumns.schedule.column]: JSON.stringify(c.plan.schedule),
        });
        const at = (column: string) => sealedPlan[column] as Buffer;
        plans.push({
          id: planId,
          caseId,
          patientId,
          title: at(planColumns.title.column),
          goals: at(planColumns.goals.column),
          interventions: at(planColumns.interventions.column),
          schedule: at(planColumns.schedule.column),
          authorId: doctor,
        });
        // Reviewed by another doctor, as the workflow requires; with only one doctor in the
        // organization the plan stays a draft.
        const reviewer = refs.doctors.find((d) => d !== doctor);
        if (c.plan.status !== 'draft' && reviewer !== undefined)
          advances.push({ id: planId, reviewerId: reviewer, to: c.plan.status });
        for (const rx of c.plan.prescriptions) {
          prescriptions.push({
            planId,
            patientId,
            medicationId: refs.medications.get(rx.medication) ?? '',
            dose: rx.dose,
            route: rx.route,
            frequency: rx.frequency,
            startDate: rx.startDate,
            endDate: rx.endDate,
            prescriberId: doctor,
          });
        }
      }
    }
  }
  await bulk.insertPatients(tx, orgId, null, patients);
  await bulk.insertCases(tx, orgId, cases);
  await bulk.closeCases(tx, orgId, toClose);
  await bulk.insertDiagnoses(tx, orgId, diagnoses);
  await bulk.insertPlans(tx, orgId, plans);
  await bulk.insertPrescriptions(tx, orgId, prescriptions);
  await bulk.advancePlans(tx, orgId, advances);
  return {
    patients: patients.length,
    cases: cases.length,
    diagnoses: diagnoses.length,
    plans: plans.length,
    prescriptions: prescriptions.length,
  };
}
