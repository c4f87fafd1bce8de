import { firstRow, ident, type Queryable } from '../../platform/db/index.ts';
import type { PatientStatus, RiskCategory } from './patient-model.ts';

/** The encrypted columns of clinical.patients. */
export type PatientCipherColumn =
  | 'first_name_encrypted'
  | 'last_name_encrypted'
  | 'date_of_birth_encrypted'
  | 'ssn_encrypted'
  | 'email_encrypted'
  | 'phone_encrypted'
  | 'address_encrypted'
  | 'emergency_contact_encrypted'
  | 'insurance_encrypted';

/** The blind-index columns of clinical.patients. */
export type PatientIndexColumn =
  'mrn_bidx' | 'ssn_bidx' | 'email_bidx' | 'phone_bidx' | 'name_dob_bidx';

/** A stored patient row (ciphertext as stored, plain columns as values). */
export interface PatientRow extends Record<PatientCipherColumn, Buffer | null> {
  id: string;
  organization_id: string;
  mrn: string;
  version: number;
  allergies: unknown[];
  vitals: Record<string, unknown>;
  conditions: unknown[];
  status: PatientStatus;
  date_of_death: string | null;
  risk_category: RiskCategory | null;
  created_at: Date;
  updated_at: Date;
}

/** A stored patient row without its ciphertexts: what a create needs back from the insert. */
export type PatientMeta = Omit<PatientRow, PatientCipherColumn>;

/** Values of the columns a write may set, by column name. */
export type PatientColumns = Partial<
  Record<PatientCipherColumn | PatientIndexColumn, Buffer | null> & {
    mrn: string;
    allergies: unknown[];
    vitals: Record<string, unknown>;
    conditions: unknown[];
    status: PatientStatus;
    date_of_death: string | null;
    risk_category: RiskCategory | null;
  }
>;

const jsonColumns = new Set(['allergies', 'vitals', 'conditions']);
const writable = new Set([
  'mrn',
  'first_name_encrypted',
  'last_name_encrypted',
  'date_of_birth_encrypted',
  'ssn_encrypted',
  'email_encrypted',
  'phone_encrypted',
  'address_encrypted',
  'emergency_contact_encrypted',
  'insurance_encrypted',
  'mrn_bidx',
  'ssn_bidx',
  'email_bidx',
  'phone_bidx',
  'name_dob_bidx',
  'allergies',
  'vitals',
  'conditions',
  'status',
  'date_of_death',
  'risk_category',
]);

const selectColumns = `id, organization_id, mrn, version, first_name_encrypted, last_name_encrypted,
  date_of_birth_encrypted, ssn_encrypted, email_encrypted, phone_encrypted, address_encrypted,
  emergency_contact_encrypted, insurance_encrypted, allergies, vitals, conditions, status,
  date_of_death::text as date_of_death, risk_category, created_at, updated_at`;

const metaColumns = `id, organization_id, mrn, version, allergies, vitals, conditions, status,
  date_of_death::text as date_of_death, risk_category, created_at, updated_at`;

function entries(cols: PatientColumns): [string, unknown][] {
  return Object.entries(cols)
    .filter(([k]) => writable.has(k))
    .map(([k, v]) => [k, jsonColumns.has(k) ? JSON.stringify(v) : v]);
}

function placeholder(column: string, n: number): string {
  if (jsonColumns.has(column)) return `$${n}::jsonb`;
  if (column === 'status') return `$${n}::clinical.patient_status`;
  if (column === 'risk_category') return `$${n}::clinical.risk_category`;
  if (column === 'date_of_death') return `$${n}::date`;
  return `$${n}`;
}

/**
 * Inserts a patient whose id was chosen by the caller (it is bound into the ciphertexts). The
 * ciphertexts are not returned: the caller holds the plaintext it just sealed.
 */
export async function insertPatient(
  q: Queryable,
  orgId: string,
  id: string,
  createdBy: string | null,
  cols: PatientColumns,
): Promise<PatientMeta> {
  const e = entries(cols);
  const names = ['organization_id', 'id', 'created_by', ...e.map(([k]) => k)];
  const values = [orgId, id, createdBy, ...e.map(([, v]) => v)];
  const r = await q.query<PatientMeta>(
    `insert into clinical.patients (${names.map(ident).join(', ')})
     values (${names.map((k, i) => placeholder(k, i + 1)).join(', ')})
     returning ${metaColumns}`,
    values,
  );
  return firstRow(r);
}

/** Whether the organization in the transaction's context has a patient with this id (RLS). */
export async function patientExists(tx: Queryable, id: string): Promise<boolean> {
  const r = await tx.query('select 1 from clinical.patients where id = $1', [id]);
  return r.rows.length > 0;
}

/** One patient of the organization, or undefined (missing and invisible look the same). */
export async function findPatient(
  q: Queryable,
  orgId: string,
  id: string,
): Promise<PatientRow | undefined> {
  const r = await q.query<PatientRow>(
    `select ${selectColumns} from clinical.patients where organization_id = $1 and id = $2`,
    [orgId, id],
  );
  return r.rows[0];
}

/** A granted patient as the database discloses it: undisclosed fields are null. */
export interface GrantedPatientRow extends PatientRow {
  /** The patient fields (API names) the live grants disclose for this request's purpose. */
  readonly fields: readonly string[];
}

/**
 * Another organization's patient, read through a live grant to the caller's organization for
 * `patient:read` and the request's purpose (clinical.granted_patient, migration 0014): every
 * field the grants do not disclose comes back null — the database withholds it, whatever
 * this process asks for. Undefined when no such grant exists (missing looks the same).
 */
export async function findGrantedPatient(
  q: Queryable,
  id: string,
): Promise<GrantedPatientRow | undefined> {
  const r = await q.query<GrantedPatientRow>('select * from clinical.granted_patient($1)', [id]);
  return r.rows[0];
}

/**
 * Patients of the organization whose blind index in `column` is one of `values` (candidates:
 * a value's current form and, during a reindex, its older ones).
 */
export async function findPatientsByIndex(
  q: Queryable,
  orgId: string,
  column: PatientIndexColumn,
  values: readonly Buffer[],
  limit: number,
): Promise<PatientRow[]> {
  const r = await q.query<PatientRow>(
    `select ${selectColumns} from clinical.patients
      where organization_id = $1 and ${ident(column)} = any($2::bytea[])
      order by created_at, id limit $3`,
    [orgId, values, limit],
  );
  return r.rows;
}

/**
 * A page of the organization's patients in creation order after the cursor, optionally of
 * one status; `limit` includes the look-ahead row. `sort_at` is the creation time as
 * PostgreSQL prints it (microseconds kept) for the next cursor.
 */
export async function listPatients(
  q: Queryable,
  orgId: string,
  filter: { status?: string | undefined },
  after: { createdAt: string; id: string } | undefined,
  limit: number,
): Promise<(PatientRow & { sort_at: string })[]> {
  const r = await q.query<PatientRow & { sort_at: string }>(
    `select ${selectColumns}, created_at::text as sort_at from clinical.patients
      where organization_id = $1 and ($5::clinical.patient_status is null or status = $5)
        and ($2::timestamptz is null or (created_at, id) > ($2::timestamptz, $3::uuid))
      order by created_at, id limit $4`,
    [orgId, after?.createdAt ?? null, after?.id ?? null, limit, filter.status ?? null],
  );
  return r.rows;
}

/**
 * Applies `cols` if the row is still at `expectedVersion` and bumps the version; undefined
 * when the row is missing or has moved on (the caller tells which).
 */
export async function updatePatient(
  q: Queryable,
  orgId: string,
  id: string,
  expectedVersion: number,
  cols: PatientColumns,
): Promise<PatientRow | undefined> {
  const e = entries(cols);
  const sets = e.map(([k], i) => `${ident(k)} = ${placeholder(k, i + 4)}`);
  const r = await q.query<PatientRow>(
    `update clinical.patients set ${[...sets, 'version = version + 1'].join(', ')}
      where organization_id = $1 and id = $2 and version = $3
      returning ${selectColumns}`,
    [orgId, id, expectedVersion, ...e.map(([, v]) => v)],
  );
  return r.rows[0];
}

const cipherColumns: readonly PatientCipherColumn[] = [
  'first_name_encrypted',
  'last_name_encrypted',
  'date_of_birth_encrypted',
  'ssn_encrypted',
  'email_encrypted',
  'phone_encrypted',
  'address_encrypted',
  'emergency_contact_encrypted',
  'insurance_encrypted',
];

/** The stored ciphertexts of a row, by column (what the codec decrypts from). */
export function ciphertexts(row: PatientRow): Record<string, Buffer | null> {
  const out: Record<string, Buffer | null> = {};
  for (const c of cipherColumns) out[c] = row[c];
  return out;
}
