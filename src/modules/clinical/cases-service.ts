import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import type { EncryptedColumn } from '../crypto/registry.ts';
import { openFields } from '../crypto/open-fields.ts';
import * as repo from './cases-repo.ts';
import { caseColumns, chiefComplaintColumn } from './encrypted-columns.ts';
import { jsonValue } from './free-text.ts';
import { findPatient } from './patients-repo.ts';

/** A case as the API shows it. */
export interface CaseView {
  id: string;
  patientId: string;
  status: repo.CaseStatus;
  priority: repo.CasePriority;
  chiefComplaint?: string;
  symptoms: unknown[];
  vitals: Record<string, unknown>;
  tags: string[];
  assignedClinicians: string[];
  openedBy: string | null;
  closedAt: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** What opening a case takes. */
export interface CaseCreate {
  patientId: string;
  chiefComplaint: string;
  priority?: repo.CasePriority;
  symptoms?: unknown[];
  vitals?: Record<string, unknown>;
  tags?: string[];
  assignedClinicians?: string[];
}

const table = `${chiefComplaintColumn.schema}.${chiefComplaintColumn.table}`;

// The workflow (mirrored by clinical.case_transition_allowed in the database).
const next: Readonly<Record<repo.CaseStatus, readonly repo.CaseStatus[]>> = {
  open: ['in_review', 'closed'],
  in_review: ['open', 'diagnosed', 'closed'],
  diagnosed: ['treatment', 'closed'],
  treatment: ['closed'],
  closed: [],
};

/** Whether the workflow allows moving a case from `from` to `to`. */
export function canTransition(from: repo.CaseStatus, to: repo.CaseStatus): boolean {
  return next[from].includes(to);
}

/**
 * What access policies test about a case (`authorize({ resource: caseResource(row) })`): its
 * care team, and the patient it belongs to (which break-glass must have opened).
 */
export function caseResource(row: repo.CaseRow): {
  readonly careTeam: readonly string[];
  readonly patientId: string;
} {
  return { careTeam: row.assigned_clinicians, patientId: row.patient_id };
}

/** The PHI fields every case view returns (the chief complaint only when asked for). */
export const caseViewPhiFields = ['symptoms', 'tags'] as const;

/**
 * The API view: symptoms and tags decrypted (or read from a legacy row), the chief complaint
 * only when `withComplaint`.
 */
export async function caseView(
  tx: Tx,
  codec: FieldCodec,
  row: repo.CaseRow,
  withComplaint: boolean,
): Promise<CaseView> {
  const place = { orgId: row.organization_id, table, rowId: row.id };
  const fields: Record<string, EncryptedColumn> = withComplaint
    ? { ...caseColumns, chiefComplaint: chiefComplaintColumn }
    : caseColumns;
  const text = await openFields(codec, tx, place, row, fields);
  const view: CaseView = {
    id: row.id,
    patientId: row.patient_id,
    status: row.status,
    priority: row.priority,
    symptoms: jsonValue<unknown[]>(text['symptoms'] ?? null, []),
    vitals: row.vitals,
    tags: jsonValue<string[]>(text['tags'] ?? null, []),
    assignedClinicians: row.assigned_clinicians,
    openedBy: row.opened_by,
    closedAt: row.closed_at?.toISOString() ?? null,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
  const complaint = text['chiefComplaint'];
  if (typeof complaint === 'string') view.chiefComplaint = complaint;
  return view;
}

async function checkTeam(tx: Tx, orgId: string, team: readonly string[]): Promise<void> {
  const unique = [...new Set(team.map((x) => x.toLowerCase()))];
  if (unique.length !== team.length)
    throw new WardError('validation_failed', 'The care team lists a clinician twice');
  const found = await repo.activePeople(tx, orgId, unique);
  // One answer whatever the reason, so another tenant's user ids read like unknown ones.
  if (found.length !== unique.length)
    throw new WardError(
      'validation_failed',
      'The care team may name only active people (not agents or service accounts) of the organization',
    );
}

/**
 * Opens a case for a patient of the organization; without a care team the opener is the team
 * (an agent or service account, which cannot be on one, must name the team).
 */
export async function openCase(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  openedBy: string,
  input: CaseCreate,
): Promise<repo.CaseRow> {
  if (!(await findPatient(tx, orgId, input.patientId))) throw new WardError('not_found');
  const team = input.assignedClinicians ?? [openedBy];
  await checkTeam(tx, orgId, team);
  const id = randomUUID();
  const sealed = await codec.encryptRow(
    tx,
    { orgId, table, rowId: id },
    {
      [chiefComplaintColumn.column]: input.chiefComplaint,
      [caseColumns.symptoms.column]: JSON.stringify(input.symptoms ?? []),
      [caseColumns.tags.column]: JSON.stringify(input.tags ?? []),
    },
  );
  return repo.insertCase(tx, {
    orgId,
    id,
    patientId: input.patientId,
    priority: input.priority ?? 'normal',
    chiefComplaint: sealed[chiefComplaintColumn.column] as Buffer,
    symptoms: sealed[caseColumns.symptoms.column] as Buffer,
    tags: sealed[caseColumns.tags.column] as Buffer,
    vitals: input.vitals ?? {},
    assignedClinicians: team,
    openedBy,
  });
}

/**
 * Loads a case of the organization or fails with a 404. A route that writes after authorizing
 * on the case's care team passes `forWrite`: the row stays locked until the request commits,
 * so a care-team change made meanwhile waits and is not undone, nor outrun, by a write that
 * was decided on the old team.
 */
export async function loadCase(
  tx: Tx,
  orgId: string,
  id: string,
  opts: { forWrite?: boolean } = {},
): Promise<repo.CaseRow> {
  const row = await repo.findCase(tx, orgId, id, opts.forWrite === true);
  if (!row) throw new WardError('not_found');
  return row;
}

/** Moves a case along the workflow; an invalid transition is a 409 and changes nothing. */
export async function transitionCase(
  tx: Tx,
  row: repo.CaseRow,
  to: repo.CaseStatus,
): Promise<repo.CaseRow> {
  if (!canTransition(row.status, to))
    throw new WardError('conflict', `A case cannot move from ${row.status} to ${to}`, {
      reason: 'invalid_transition',
    });
  const updated = await repo.updateCaseStatus(tx, row.organization_id, row.id, row.status, to);
  if (!updated) throw new WardError('conflict', 'The case changed concurrently');
  return updated;
}

/** Replaces the care team with active people of the organization. */
export async function setCareTeam(
  tx: Tx,
  row: repo.CaseRow,
  clinicians: readonly string[],
): Promise<repo.CaseRow> {
  await checkTeam(tx, row.organization_id, clinicians);
  const updated = await repo.updateCareTeam(tx, row.organization_id, row.id, clinicians);
  if (!updated) throw new WardError('not_found');
  return updated;
}
