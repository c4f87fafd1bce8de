import { firstRow, type Queryable } from '../../platform/db/index.ts';

export type DiagnosisStatus = 'suggested' | 'confirmed' | 'rejected' | 'revised';

/** A stored diagnosis. */
export interface DiagnosisRow {
  id: string;
  organization_id: string;
  case_id: string;
  patient_id: string;
  icd10_version: string;
  icd10_code: string;
  description: string;
  status: DiagnosisStatus;
  source: 'clinician' | 'ai';
  model_id: string | null;
  model_version: string | null;
  confidence: string | null;
  evidence_encrypted: Buffer | null;
  decision_reason_encrypted: Buffer | null;
  /** Legacy plaintext (rows written before migration 0022, until `ward keys rewrap`). */
  evidence: Record<string, unknown> | null;
  /** Legacy plaintext, like `evidence`. */
  decision_reason: string | null;
  suggested_by: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  revised_to: string | null;
  created_at: Date;
}

const columns = `d.id, d.organization_id, d.case_id, d.patient_id, d.icd10_version, d.icd10_code,
  c.description, d.status, d.source, d.model_id, d.model_version, d.confidence::text as confidence,
  d.evidence_encrypted, d.decision_reason_encrypted, d.evidence, d.decision_reason, d.suggested_by,
  d.decided_by, d.decided_at, d.revised_to, d.created_at`;
const from = `clinical.diagnoses d
  join clinical.icd10_codes c on c.version = d.icd10_version and c.code = d.icd10_code`;

/** The newest code-set release that has `code`, or undefined for an unknown code. */
export async function currentIcd10Version(q: Queryable, code: string): Promise<string | undefined> {
  const r = await q.query<{ version: string }>(
    'select version from clinical.icd10_codes where code = $1 order by version desc limit 1',
    [code],
  );
  return r.rows[0]?.version;
}

/** Inserts a diagnosis whose id the caller chose (bound into its evidence's ciphertext). */
export async function insertDiagnosis(
  q: Queryable,
  d: {
    orgId: string;
    id: string;
    caseId: string;
    patientId: string;
    version: string;
    code: string;
    status: DiagnosisStatus;
    source: 'clinician' | 'ai';
    modelId: string | null;
    modelVersion: string | null;
    confidence: number | null;
    evidence: Buffer;
    userId: string;
  },
): Promise<DiagnosisRow> {
  const decided = d.status !== 'suggested';
  await q.query(
    `insert into clinical.diagnoses (organization_id, id, case_id, patient_id, icd10_version, icd10_code,
                                     status, source, model_id, model_version, confidence,
                                     evidence_encrypted, suggested_by, decided_by, decided_at)
     values ($1, $14, $2, $3, $4, $5, $6::clinical.diagnosis_status, $7::clinical.diagnosis_source, $8, $9,
             $10, $11, $12, case when $13 then $12::uuid end, case when $13 then now() end)`,
    [
      d.orgId,
      d.caseId,
      d.patientId,
      d.version,
      d.code,
      d.status,
      d.source,
      d.modelId,
      d.modelVersion,
      d.confidence,
      d.evidence,
      d.userId,
      decided,
      d.id,
    ],
  );
  return firstRow(await findDiagnosisRows(q, d.orgId, { id: d.id }));
}

async function findDiagnosisRows(
  q: Queryable,
  orgId: string,
  by: { id?: string; caseId?: string },
) {
  return q.query<DiagnosisRow>(
    `select ${columns} from ${from}
      where d.organization_id = $1 and ($2::uuid is null or d.id = $2) and ($3::uuid is null or d.case_id = $3)
      order by d.created_at, d.id`,
    [orgId, by.id ?? null, by.caseId ?? null],
  );
}

/** One diagnosis of the organization, or undefined. */
export async function findDiagnosis(
  q: Queryable,
  orgId: string,
  id: string,
): Promise<DiagnosisRow | undefined> {
  return (await findDiagnosisRows(q, orgId, { id })).rows[0];
}

/** A case's diagnoses in order of recording. */
export async function listDiagnoses(
  q: Queryable,
  orgId: string,
  caseId: string,
): Promise<DiagnosisRow[]> {
  return (await findDiagnosisRows(q, orgId, { caseId })).rows;
}

/** Records the decision on a suggestion (its reason sealed); false when it was already decided. */
export async function decideDiagnosis(
  q: Queryable,
  orgId: string,
  id: string,
  d: { status: DiagnosisStatus; userId: string; reason: Buffer | null; revisedTo: string | null },
): Promise<boolean> {
  const r = await q.query(
    `update clinical.diagnoses
        set status = $3::clinical.diagnosis_status, decided_by = $4, decided_at = now(),
            decision_reason_encrypted = $5, revised_to = $6
      where organization_id = $1 and id = $2 and status = 'suggested'`,
    [orgId, id, d.status, d.userId, d.reason, d.revisedTo],
  );
  return r.rowCount === 1;
}
