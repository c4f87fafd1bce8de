import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { openFields } from '../crypto/open-fields.ts';
import type { CaseRow } from './cases-repo.ts';
import * as repo from './diagnoses-repo.ts';
import { diagnosisColumns } from './encrypted-columns.ts';
import { jsonValue } from './free-text.ts';

const table = `${diagnosisColumns.evidence.schema}.${diagnosisColumns.evidence.table}`;

/** The PHI fields a diagnosis view returns (its code, and its free text decrypted). */
export const diagnosisPhiFields = ['icd10Code', 'evidence', 'decisionReason'] as const;

/** A diagnosis as the API shows it. */
export interface DiagnosisView {
  id: string;
  caseId: string;
  patientId: string;
  icd10Code: string;
  icd10Version: string;
  description: string;
  status: repo.DiagnosisStatus;
  source: 'clinician' | 'ai';
  modelId: string | null;
  modelVersion: string | null;
  confidence: number | null;
  evidence: Record<string, unknown>;
  suggestedBy: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionReason: string | null;
  revisedTo: string | null;
  createdAt: string;
}

/** A new diagnosis: a clinician's (recorded as confirmed) or an AI suggestion. */
export interface DiagnosisCreate {
  icd10Code: string;
  source: 'clinician' | 'ai';
  modelId?: string;
  modelVersion?: string;
  confidence?: number;
  evidence?: Record<string, unknown>;
}

/** A decision on a suggestion; reject and revise need a reason, revise a replacement code. */
export interface DiagnosisDecision {
  decision: 'confirm' | 'reject' | 'revise';
  reason?: string;
  icd10Code?: string;
}

/** The API view of a row, its evidence and decision reason decrypted (or read from a legacy row). */
export async function diagnosisView(
  tx: Tx,
  codec: FieldCodec,
  r: repo.DiagnosisRow,
): Promise<DiagnosisView> {
  const text = await openFields(
    codec,
    tx,
    { orgId: r.organization_id, table, rowId: r.id },
    r,
    diagnosisColumns,
  );
  return {
    id: r.id,
    caseId: r.case_id,
    patientId: r.patient_id,
    icd10Code: r.icd10_code,
    icd10Version: r.icd10_version,
    description: r.description,
    status: r.status,
    source: r.source,
    modelId: r.model_id,
    modelVersion: r.model_version,
    confidence: r.confidence === null ? null : Number(r.confidence),
    evidence: jsonValue<Record<string, unknown>>(text.evidence, {}),
    suggestedBy: r.suggested_by,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at?.toISOString() ?? null,
    decisionReason: text.decisionReason,
    revisedTo: r.revised_to,
    createdAt: r.created_at.toISOString(),
  };
}

/** A new diagnosis's id and its evidence sealed to it. */
async function sealedEvidence(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  evidence: Record<string, unknown>,
): Promise<{ id: string; evidence: Buffer }> {
  const id = randomUUID();
  const sealed = await codec.encryptRow(
    tx,
    { orgId, table, rowId: id },
    { [diagnosisColumns.evidence.column]: JSON.stringify(evidence) },
  );
  return { id, evidence: sealed[diagnosisColumns.evidence.column] as Buffer };
}

async function codeVersion(tx: Tx, code: string): Promise<string> {
  const version = await repo.currentIcd10Version(tx, code.trim().toUpperCase());
  if (!version)
    throw new WardError('validation_failed', 'icd10Code is not in the ICD-10-CM code set', {
      reason: 'unknown_icd10_code',
    });
  return version;
}

/**
 * Records a diagnosis on a case. The code must exist in the shipped (or imported) ICD-10-CM
 * set; an AI suggestion must name its model, version and a confidence in [0, 1] and stays
 * `suggested` until a clinician decides; a clinician's own diagnosis is recorded as confirmed.
 */
export async function recordDiagnosis(
  tx: Tx,
  codec: FieldCodec,
  c: CaseRow,
  userId: string,
  input: DiagnosisCreate,
): Promise<repo.DiagnosisRow> {
  const ai = input.source === 'ai';
  if (ai && (!input.modelId || !input.modelVersion || input.confidence === undefined))
    throw new WardError(
      'validation_failed',
      'AI suggestions carry modelId, modelVersion and confidence',
    );
  if (c.status === 'closed') throw new WardError('conflict', 'The case is closed');
  const code = input.icd10Code.trim().toUpperCase();
  const version = await codeVersion(tx, code);
  return repo.insertDiagnosis(tx, {
    orgId: c.organization_id,
    ...(await sealedEvidence(tx, codec, c.organization_id, input.evidence ?? {})),
    caseId: c.id,
    patientId: c.patient_id,
    version,
    code,
    status: ai ? 'suggested' : 'confirmed',
    source: input.source,
    modelId: ai ? (input.modelId ?? null) : null,
    modelVersion: ai ? (input.modelVersion ?? null) : null,
    confidence: ai ? (input.confidence ?? null) : null,
    userId,
  });
}

/** Loads a diagnosis of the organization or fails with a 404. */
export async function loadDiagnosis(tx: Tx, orgId: string, id: string): Promise<repo.DiagnosisRow> {
  const row = await repo.findDiagnosis(tx, orgId, id);
  if (!row) throw new WardError('not_found');
  return row;
}

/**
 * Confirms, rejects or revises a suggestion, once. A revision records the clinician's code as
 * a new confirmed diagnosis and links the suggestion to it. Returns the decided suggestion.
 */
export async function decideDiagnosis(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  row: repo.DiagnosisRow,
  userId: string,
  d: DiagnosisDecision,
): Promise<repo.DiagnosisRow> {
  if (row.status !== 'suggested')
    throw new WardError('conflict', `The diagnosis is already ${row.status}`, {
      reason: 'invalid_transition',
    });
  const reason = d.reason?.trim() ?? '';
  if (d.decision !== 'confirm' && reason.length < 3)
    throw new WardError('validation_failed', 'A reason is required to reject or revise');
  let revisedTo: string | null = null;
  if (d.decision === 'revise') {
    if (!d.icd10Code) throw new WardError('validation_failed', 'A revision needs icd10Code');
    const code = d.icd10Code.trim().toUpperCase();
    const version = await codeVersion(tx, code);
    const replacement = await repo.insertDiagnosis(tx, {
      orgId,
      ...(await sealedEvidence(tx, codec, orgId, { revises: row.id })),
      caseId: row.case_id,
      patientId: row.patient_id,
      version,
      code,
      status: 'confirmed',
      source: 'clinician',
      modelId: null,
      modelVersion: null,
      confidence: null,
      userId,
    });
    revisedTo = replacement.id;
  }
  const status = { confirm: 'confirmed', reject: 'rejected', revise: 'revised' } as const;
  const sealedReason =
    reason === ''
      ? null
      : ((
          await codec.encryptRow(
            tx,
            { orgId, table, rowId: row.id },
            { [diagnosisColumns.decisionReason.column]: reason },
          )
        )[diagnosisColumns.decisionReason.column] ?? null);
  const ok = await repo.decideDiagnosis(tx, orgId, row.id, {
    status: status[d.decision],
    userId,
    reason: sealedReason,
    revisedTo,
  });
  if (!ok) throw new WardError('conflict', 'The diagnosis was decided concurrently');
  return loadDiagnosis(tx, orgId, row.id);
}

/** A case's diagnoses. */
export async function caseDiagnoses(tx: Tx, c: CaseRow): Promise<repo.DiagnosisRow[]> {
  return repo.listDiagnoses(tx, c.organization_id, c.id);
}
