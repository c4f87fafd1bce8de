import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import {
  decodeCursor,
  encodeCursor,
  pageLimit,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';
import { WardError } from '../../platform/errors.ts';
import type { PatientPhiField } from '../access/purposes.ts';
import { nameDobValue, normalizeForIndex, sameIndexedValue } from '../crypto/blind-index.ts';
import type { BlindIndexKind } from '../crypto/registry.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { patientIndexes } from './encrypted-columns.ts';
import {
  clinicalFields,
  isIsoDate,
  jsonPhiFields,
  patientsTable,
  phiColumn,
  type Visibility,
} from './patient-fields.ts';
import type {
  PatientCreate,
  PatientPatch,
  PatientPhi,
  PatientSearch,
  PatientView,
} from './patient-model.ts';
import * as repo from './patients-repo.ts';

/** A patient view plus the audit facts of producing it. */
export interface Disclosure<T> {
  readonly value: T;
  /** PHI and clinical fields returned to the caller (names, never values). */
  readonly disclosed: readonly string[];
}

/** The PHI fields a create or patch would write (for the evaluator's field check). */
export function phiFieldsIn(input: PatientPatch): PatientPhiField[] {
  return (Object.keys(phiColumn) as PatientPhiField[]).filter((f) => input[f] !== undefined);
}

/**
 * The latest date that is today somewhere (UTC+14): a birth or death recorded today in a time
 * zone ahead of UTC is not in the future.
 */
function latestCalendarDate(): string {
  return new Date(Date.now() + 14 * 3_600_000).toISOString().slice(0, 10);
}

function validate(input: PatientPatch): void {
  if (input.dateOfBirth !== undefined && !isIsoDate(input.dateOfBirth))
    throw new WardError('validation_failed', 'dateOfBirth must be a calendar date (YYYY-MM-DD)');
  if (input.dateOfBirth !== undefined && input.dateOfBirth > latestCalendarDate())
    throw new WardError('validation_failed', 'dateOfBirth may not be in the future');
  if (input.dateOfDeath !== undefined && input.dateOfDeath !== null) {
    if (!isIsoDate(input.dateOfDeath))
      throw new WardError('validation_failed', 'dateOfDeath must be a calendar date (YYYY-MM-DD)');
    if (input.dateOfDeath > latestCalendarDate())
      throw new WardError('validation_failed', 'dateOfDeath may not be in the future');
  }
  if (typeof input.dateOfBirth === 'string' && typeof input.dateOfDeath === 'string')
    checkLifespan(input.dateOfBirth, input.dateOfDeath);
  // Identifiers must normalize (names the kind only, never the value).
  if (typeof input.ssn === 'string') normalizeForIndex('ssn', input.ssn);
  if (typeof input.email === 'string') normalizeForIndex('email', input.email);
  if (typeof input.phone === 'string') normalizeForIndex('phone', input.phone);
}

/** A date of death is never before the date of birth (both validated calendar dates). */
function checkLifespan(dateOfBirth: string, dateOfDeath: string): void {
  if (dateOfDeath < dateOfBirth)
    throw new WardError('validation_failed', 'dateOfDeath may not be before dateOfBirth');
}

function plain(field: PatientPhiField, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return jsonPhiFields.has(field) || typeof value !== 'string' ? JSON.stringify(value) : value;
}

/** A row's sealed PHI columns and blind indexes, and the plaintext they were sealed from. */
interface Sealed {
  readonly columns: repo.PatientColumns;
  /** The plaintext of each sealed column, by column (null for a field being cleared). */
  readonly plain: Readonly<Record<string, string | null>>;
}

/** Encrypts the given PHI fields of one row and computes the blind indexes they feed. */
async function sealPhi(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  id: string,
  phi: Partial<PatientPhi>,
  nameDob: { lastName: string; dateOfBirth: string } | undefined,
): Promise<Sealed> {
  const fields = (Object.keys(phi) as PatientPhiField[]).filter((f) => phi[f] !== undefined);
  const plainByColumn: Record<string, string | null> = {};
  for (const f of fields) plainByColumn[phiColumn[f]] = plain(f, phi[f]);
  const sealed = await codec.encryptRow(
    tx,
    { orgId, table: patientsTable, rowId: id },
    plainByColumn,
  );
  const out: Record<string, Buffer | null> = { ...sealed };
  const index = async (column: repo.PatientIndexColumn, value: string | null | undefined) => {
    if (value === undefined) return;
    const d = Object.values(patientIndexes).find((x) => x.column === column);
    if (!d) throw new Error(`no blind index ${column}`);
    out[column] = value === null ? null : await codec.blindIndex(tx, orgId, d, value);
  };
  await index('ssn_bidx', phi.ssn);
  await index('email_bidx', phi.email);
  await index('phone_bidx', phi.phone);
  if (nameDob) await index('name_dob_bidx', nameDobValue(nameDob.lastName, nameDob.dateOfBirth));
  return { columns: out, plain: plainByColumn };
}

function clinicalColumns(input: PatientPatch): repo.PatientColumns {
  const out: Record<string, unknown> = {};
  if (input.allergies !== undefined) out['allergies'] = input.allergies;
  if (input.vitals !== undefined) out['vitals'] = input.vitals;
  if (input.conditions !== undefined) out['conditions'] = input.conditions;
  if (input.status !== undefined) out['status'] = input.status;
  if (input.dateOfDeath !== undefined) out['date_of_death'] = input.dateOfDeath;
  if (input.riskCategory !== undefined) out['risk_category'] = input.riskCategory;
  return out;
}

/** Decrypts exactly the visible fields of a row into the API view. */
export async function toView(
  tx: Tx,
  codec: FieldCodec,
  row: repo.PatientRow,
  vis: Visibility,
  granted?: ReadonlySet<string>,
): Promise<Disclosure<PatientView>> {
  const decrypted = await codec.decryptRow(
    tx,
    { orgId: row.organization_id, table: patientsTable, rowId: row.id },
    repo.ciphertexts(row),
    vis.fields.map((f) => phiColumn[f]),
  );
  return viewOf(row, decrypted, vis, granted);
}

/**
 * The API view of a row from the plaintext of its visible PHI columns (by column; a missing
 * column is a field without a value), whether just decrypted or just sealed.
 */
function viewOf(
  row: repo.PatientMeta,
  plainByColumn: Readonly<Record<string, string | null>>,
  vis: Visibility,
  granted?: ReadonlySet<string>,
): Disclosure<PatientView> {
  const view: Record<string, unknown> = {
    id: row.id,
    mrn: row.mrn,
    version: row.version,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
  const disclosed: string[] = [];
  // Through a grant, the date of death only when the grant discloses it, and the risk category
  // with the clinical fields (the database withheld them otherwise: absent, not null).
  if (!granted || granted.has('dateOfDeath')) {
    view['dateOfDeath'] = row.date_of_death;
    if (granted) disclosed.push('dateOfDeath');
  }
  if (!granted || vis.clinical) view['riskCategory'] = row.risk_category;
  for (const f of vis.fields) {
    const v = plainByColumn[phiColumn[f]] ?? null;
    view[f] = v !== null && jsonPhiFields.has(f) ? (JSON.parse(v) as unknown) : v;
    disclosed.push(f);
  }
  if (vis.clinical) {
    view['allergies'] = row.allergies;
    view['vitals'] = row.vitals;
    view['conditions'] = row.conditions;
    disclosed.push(...clinicalFields);
  }
  return { value: view as PatientView, disclosed };
}

/** A patient sealed for its insert, not yet written: what its audit event names is known. */
export interface PreparedPatient {
  readonly id: string;
  readonly orgId: string;
  readonly createdBy: string | null;
  readonly columns: repo.PatientColumns;
  readonly plain: Readonly<Record<string, string | null>>;
  readonly vis: Visibility;
  /** The fields the create's response will disclose (names, never values). */
  readonly disclosed: readonly string[];
}

/**
 * Validates a new patient, chooses its id and seals its PHI to that row (ciphertexts and blind
 * indexes), without writing it: `insertPreparedPatient` writes it. A route records the
 * create's audit event in between, so the event can travel with the insert.
 */
export async function preparePatient(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  createdBy: string | null,
  input: PatientCreate,
  vis: Visibility,
): Promise<PreparedPatient> {
  validate(input);
  const id = randomUUID();
  const phi: Partial<PatientPhi> = {};
  for (const f of phiFieldsIn(input)) (phi as Record<string, unknown>)[f] = input[f];
  const sealed = await sealPhi(tx, codec, orgId, id, phi, input);
  const mrnIndex = await codec.blindIndex(tx, orgId, patientIndexes.mrn, input.mrn);
  return {
    id,
    orgId,
    createdBy,
    columns: {
      mrn: input.mrn,
      mrn_bidx: mrnIndex,
      ...sealed.columns,
      ...clinicalColumns(input),
    },
    plain: sealed.plain,
    vis,
    disclosed: [...vis.fields, ...(vis.clinical ? clinicalFields : [])],
  };
}

/**
 * Writes a prepared patient and returns its view, built from the plaintext just sealed (byte
 * for byte what decrypting the stored row gives; the codec's tests pin the round trip). With
 * `commit`, the insert is the transaction's last statement and carries its COMMIT.
 */
export async function insertPreparedPatient(
  tx: Tx,
  p: PreparedPatient,
  opts: { commit?: boolean } = {},
): Promise<Disclosure<PatientView>> {
  const row = await repo.insertPatient(
    opts.commit ? { query: tx.queryAndCommit.bind(tx) } : tx,
    p.orgId,
    p.id,
    p.createdBy,
    p.columns,
  );
  return viewOf(row, p.plain, p.vis);
}

/** Registers a patient: PHI sealed to the new row, identifiers indexed for search. */
export async function createPatient(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  createdBy: string | null,
  input: PatientCreate,
  vis: Visibility,
): Promise<Disclosure<PatientView>> {
  return insertPreparedPatient(tx, await preparePatient(tx, codec, orgId, createdBy, input, vis));
}

/** What a read returned, and from which organization when it came through a grant. */
export interface PatientRead extends Disclosure<PatientView> {
  /** The owner organization when the patient is another organization's, read through a grant. */
  readonly grantedBy: string | undefined;
}

/**
 * Reads a patient of the caller's organization or, failing that, one another organization
 * granted to it for this purpose (read-only; the owner's data key is reachable only while the
 * grant is live). Missing, foreign and expired look the same: not found.
 */
export async function readPatientOrGranted(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  id: string,
  vis: Visibility,
): Promise<PatientRead> {
  const own = await repo.findPatient(tx, orgId, id);
  if (own) return { ...(await toView(tx, codec, own, vis)), grantedBy: undefined };
  const row = await repo.findGrantedPatient(tx, id);
  if (!row) throw new WardError('not_found');
  // The owner's grant caps what is disclosed (the database already withheld the rest); the
  // grantee's role and policies only narrow it.
  const granted = new Set(row.fields);
  const capped: Visibility = {
    fields: vis.fields.filter((f) => granted.has(f)),
    clinical: vis.clinical && clinicalFields.every((f) => granted.has(f)),
  };
  return { ...(await toView(tx, codec, row, capped, granted)), grantedBy: row.organization_id };
}

/** The PHI fields a search by these keys uses (the caller must be allowed to see them). */
export function searchKey(s: PatientSearch): {
  readonly by: 'mrn' | 'ssn' | 'email' | 'phone' | 'nameDob';
  readonly fields: PatientPhiField[];
} {
  const given = (['mrn', 'ssn', 'email', 'phone', 'lastName', 'dateOfBirth'] as const).filter(
    (k) => s[k] !== undefined,
  );
  const one = given.length === 1 ? given[0] : undefined;
  if (one === 'mrn') return { by: 'mrn', fields: [] };
  if (one === 'ssn' || one === 'email' || one === 'phone') return { by: one, fields: [one] };
  if (given.length === 2 && given.includes('lastName') && given.includes('dateOfBirth'))
    return { by: 'nameDob', fields: ['lastName', 'dateOfBirth'] };
  throw new WardError(
    'validation_failed',
    'Search by exactly one of mrn, ssn, email, phone, or lastName with dateOfBirth',
  );
}

const searchLimit = 50;
const indexColumn = {
  mrn: 'mrn_bidx',
  ssn: 'ssn_bidx',
  email: 'email_bidx',
  phone: 'phone_bidx',
  nameDob: 'name_dob_bidx',
} as const satisfies Record<ReturnType<typeof searchKey>['by'], repo.PatientIndexColumn>;

/**
 * Finds patients by one identifier through its blind index, then re-checks each candidate
 * (a truncated index can match by coincidence) before returning the visible fields. While the
 * organization's index column may still hold indexes computed with older normalization rules
 * (before `ward keys reindex` completes), the value's older forms are looked up too; a
 * candidate is confirmed under the newest rules that accept its stored value.
 */
export async function searchPatients(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  s: PatientSearch,
  vis: Visibility,
): Promise<Disclosure<PatientView[]>> {
  const { by } = searchKey(s);
  if (by === 'nameDob' && !isIsoDate(s.dateOfBirth ?? ''))
    throw new WardError('validation_failed', 'dateOfBirth must be a calendar date (YYYY-MM-DD)');
  const value =
    (by === 'nameDob' ? nameDobValue(s.lastName ?? '', s.dateOfBirth ?? '') : s[by]) ?? '';
  const index = patientIndexes[by];
  const hashes = await codec.blindIndexSearch(tx, orgId, index, value);
  const candidates = await repo.findPatientsByIndex(
    tx,
    orgId,
    indexColumn[by],
    hashes,
    searchLimit,
  );
  const out: PatientView[] = [];
  const disclosed = new Set<string>();
  for (const row of candidates) {
    if (!(await confirms(tx, codec, row, by, index.kind, value))) continue;
    const v = await toView(tx, codec, row, vis);
    out.push(v.value);
    for (const f of v.disclosed) disclosed.add(f);
  }
  return { value: out, disclosed: [...disclosed] };
}

async function confirms(
  tx: Tx,
  codec: FieldCodec,
  row: repo.PatientRow,
  by: ReturnType<typeof searchKey>['by'],
  kind: BlindIndexKind,
  query: string,
): Promise<boolean> {
  if (by === 'mrn') return sameIndexedValue(kind, row.mrn, query);
  const fields: PatientPhiField[] = by === 'nameDob' ? ['lastName', 'dateOfBirth'] : [by];
  const d = await codec.decryptRow(
    tx,
    { orgId: row.organization_id, table: patientsTable, rowId: row.id },
    repo.ciphertexts(row),
    fields.map((f) => phiColumn[f]),
  );
  const stored =
    by === 'nameDob'
      ? nameDobValue(d.last_name_encrypted ?? '', d.date_of_birth_encrypted ?? '')
      : d[phiColumn[by]];
  return stored !== null && sameIndexedValue(kind, stored, query);
}

/**
 * Applies a patch if the caller read the current version (optimistic concurrency): a stale
 * version is a 412 and changes nothing. Blind indexes follow the fields they cover.
 */
export async function updatePatient(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  id: string,
  expectedVersion: number,
  patch: PatientPatch,
  vis: Visibility,
): Promise<Disclosure<PatientView>> {
  validate(patch);
  const current = await repo.findPatient(tx, orgId, id);
  if (!current) throw new WardError('not_found');
  if (current.version !== expectedVersion) throw new WardError('precondition_failed');
  const phi: Partial<PatientPhi> = {};
  for (const f of phiFieldsIn(patch)) (phi as Record<string, unknown>)[f] = patch[f];
  // A date of death set against the stored date of birth, or a date of birth changed under a
  // stored date of death: the pair must stay ordered (the stored half is read server-side only).
  const deathAfterPatch =
    patch.dateOfDeath !== undefined ? patch.dateOfDeath : current.date_of_death;
  if (deathAfterPatch !== null && (patch.status ?? current.status) !== 'deceased')
    throw new WardError('validation_failed', 'A date of death needs status deceased');
  // Compared with the stored date of birth only when the caller may see it: otherwise the
  // answer (400 or 200) would reveal it, one probe at a time.
  if (
    deathAfterPatch !== null &&
    patch.dateOfBirth === undefined &&
    patch.dateOfDeath != null &&
    vis.fields.includes('dateOfBirth')
  ) {
    const d = await codec.decryptRow(
      tx,
      { orgId, table: patientsTable, rowId: id },
      repo.ciphertexts(current),
      ['date_of_birth_encrypted'],
    );
    const born = d.date_of_birth_encrypted;
    if (born) checkLifespan(born, deathAfterPatch);
  } else if (deathAfterPatch !== null && typeof patch.dateOfBirth === 'string') {
    checkLifespan(patch.dateOfBirth, deathAfterPatch);
  }
  let nameDob: { lastName: string; dateOfBirth: string } | undefined;
  if (patch.lastName !== undefined || patch.dateOfBirth !== undefined) {
    // The combined index needs both halves; the unchanged one is read server-side only.
    const d = await codec.decryptRow(
      tx,
      { orgId, table: patientsTable, rowId: id },
      repo.ciphertexts(current),
      ['last_name_encrypted', 'date_of_birth_encrypted'],
    );
    nameDob = {
      lastName: patch.lastName ?? d.last_name_encrypted ?? '',
      dateOfBirth: patch.dateOfBirth ?? d.date_of_birth_encrypted ?? '',
    };
  }
  const sealed = await sealPhi(tx, codec, orgId, id, phi, nameDob);
  const cols: repo.PatientColumns = { ...sealed.columns, ...clinicalColumns(patch) };
  if (patch.mrn !== undefined) {
    cols.mrn = patch.mrn;
    cols.mrn_bidx = await codec.blindIndex(tx, orgId, patientIndexes.mrn, patch.mrn);
  }
  const row = await repo.updatePatient(tx, orgId, id, expectedVersion, cols);
  if (!row) throw new WardError('precondition_failed');
  return toView(tx, codec, row, vis);
}

/** A page of the organization's patients, each decrypted only as far as `vis` allows. */
export async function listPatientPage(
  tx: Tx,
  codec: FieldCodec,
  orgId: string,
  q: PageQuery & { status?: string },
  vis: Visibility,
): Promise<Disclosure<Page<PatientView>>> {
  const limit = pageLimit(q);
  const after = decodeCursor('patients', q.cursor, 2);
  const rows = await repo.listPatients(
    tx,
    orgId,
    { status: q.status },
    after ? { createdAt: after[0] ?? '', id: after[1] ?? '' } : undefined,
    limit + 1,
  );
  const shown = rows.slice(0, limit);
  const items: PatientView[] = [];
  const disclosed = new Set<string>();
  for (const row of shown) {
    const v = await toView(tx, codec, row, vis);
    items.push(v.value);
    for (const f of v.disclosed) disclosed.add(f);
  }
  const last = shown.at(-1);
  return {
    value: {
      items,
      nextCursor:
        rows.length > limit && last ? encodeCursor('patients', [last.sort_at, last.id]) : null,
    },
    disclosed: [...disclosed],
  };
}
