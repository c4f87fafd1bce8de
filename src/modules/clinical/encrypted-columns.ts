import { blindIndexBits } from '../crypto/blind-index.ts';
import { columnRegistry, type BlindIndexColumn, type EncryptedColumn } from '../crypto/registry.ts';

// Sized for ten million patients per organization: 40 bits keeps coincidental matches per
// lookup below 1 in 1024 while one index value alone never singles out a person.
const patientIndexBits = blindIndexBits(10_000_000);

const patientColumn = (
  column: string,
  kind: EncryptedColumn['kind'],
  purpose: string,
): EncryptedColumn =>
  columnRegistry.encrypted({
    schema: 'clinical',
    table: 'patients',
    column,
    idColumn: 'id',
    kind,
    purpose,
  });

const patientIndex = (
  column: string,
  kind: BlindIndexColumn['kind'],
  sources: readonly string[],
  purpose: string,
): BlindIndexColumn =>
  columnRegistry.blindIndex({
    schema: 'clinical',
    table: 'patients',
    column,
    kind,
    bits: patientIndexBits,
    purpose,
    idColumn: 'id',
    sources,
  });

/** Seed 1's nine encrypted patient fields, keyed by their API names. */
export const patientColumns = {
  firstName: patientColumn('first_name_encrypted', 'text', 'Patient first name (seed 1)'),
  lastName: patientColumn('last_name_encrypted', 'text', 'Patient last name (seed 1)'),
  dateOfBirth: patientColumn('date_of_birth_encrypted', 'date', 'Patient date of birth (seed 1)'),
  ssn: patientColumn('ssn_encrypted', 'text', 'Social Security Number (seed 1)'),
  email: patientColumn('email_encrypted', 'text', 'Patient email address (seed 1)'),
  phone: patientColumn('phone_encrypted', 'text', 'Patient phone number (seed 1)'),
  address: patientColumn('address_encrypted', 'json', 'Patient address (seed 1)'),
  emergencyContact: patientColumn(
    'emergency_contact_encrypted',
    'json',
    'Emergency contact (seed 1)',
  ),
  insurance: patientColumn('insurance_encrypted', 'json', 'Insurance details (seed 1)'),
} as const;

/** Exact-match search indexes over patient identifiers. */
export const patientIndexes = {
  mrn: patientIndex('mrn_bidx', 'mrn', ['mrn'], 'Patient search by MRN'),
  ssn: patientIndex('ssn_bidx', 'ssn', ['ssn_encrypted'], 'Patient search by SSN'),
  email: patientIndex('email_bidx', 'email', ['email_encrypted'], 'Patient search by email'),
  phone: patientIndex('phone_bidx', 'phone', ['phone_encrypted'], 'Patient search by phone'),
  nameDob: patientIndex(
    'name_dob_bidx',
    'name_dob',
    ['last_name_encrypted', 'date_of_birth_encrypted'],
    'Patient search by last name + birth date',
  ),
} as const;

/** A case's chief complaint: clinical free text that routinely identifies the patient. */
export const chiefComplaintColumn = columnRegistry.encrypted({
  schema: 'clinical',
  table: 'medical_cases',
  column: 'chief_complaint_encrypted',
  idColumn: 'id',
  kind: 'text',
  purpose: 'Medical case chief complaint (clinical free text)',
});

/**
 * A medical image's content key: the random AES-256 key its stored object is encrypted with,
 * sealed here with the organization's data key (envelope encryption). Rewrapping re-seals
 * this value; the object itself never has to be rewritten.
 */
export const imageContentKeyColumn = columnRegistry.encrypted({
  schema: 'clinical',
  table: 'medical_images',
  column: 'content_key_encrypted',
  idColumn: 'id',
  kind: 'key',
  purpose: 'Medical image content key (the object store file is encrypted with it)',
});

// Clinical free text (migration 0022). Clinicians type names, addresses and other identifiers
// into free text, so it is encrypted like the chief complaint. Each column replaces a plaintext
// column that rows written before 0022 still fill until `ward keys rewrap` has moved them.
const freeText = (
  table: string,
  column: string,
  kind: 'text' | 'json',
  legacy: NonNullable<EncryptedColumn['legacy']>,
  purpose: string,
): EncryptedColumn =>
  columnRegistry.encrypted({
    schema: 'clinical',
    table,
    column,
    idColumn: 'id',
    kind,
    purpose,
    legacy,
  });

/** A case's free-text fields besides the chief complaint, keyed by their API names. */
export const caseColumns = {
  symptoms: freeText(
    'medical_cases',
    'symptoms_encrypted',
    'json',
    { column: 'symptoms', type: 'jsonb' },
    'Medical case symptoms (clinical free text, JSON list)',
  ),
  tags: freeText(
    'medical_cases',
    'tags_encrypted',
    'json',
    { column: 'tags', type: 'text[]' },
    'Medical case tags (labels clinicians type, JSON list)',
  ),
} as const;

/** A diagnosis's free text: the AI evidence (may quote notes) and the decision's reason. */
export const diagnosisColumns = {
  evidence: freeText(
    'diagnoses',
    'evidence_encrypted',
    'json',
    { column: 'evidence', type: 'jsonb' },
    'Diagnosis evidence (AI evidence may quote clinical notes; JSON object)',
  ),
  decisionReason: freeText(
    'diagnoses',
    'decision_reason_encrypted',
    'text',
    { column: 'decision_reason', type: 'text' },
    'Reason a diagnosis was rejected or revised (clinical free text)',
  ),
} as const;

/** A treatment plan's free text, keyed by API name (the schedule's values are free-form too). */
export const planColumns = {
  title: freeText(
    'treatment_plans',
    'title_encrypted',
    'text',
    { column: 'title', type: 'text' },
    'Treatment plan title (clinical free text)',
  ),
  goals: freeText(
    'treatment_plans',
    'goals_encrypted',
    'json',
    { column: 'goals', type: 'jsonb' },
    'Treatment plan goals (clinical free text, JSON list)',
  ),
  interventions: freeText(
    'treatment_plans',
    'interventions_encrypted',
    'json',
    { column: 'interventions', type: 'jsonb' },
    'Treatment plan interventions (clinical free text, JSON list)',
  ),
  schedule: freeText(
    'treatment_plans',
    'schedule_encrypted',
    'json',
    { column: 'schedule', type: 'jsonb' },
    'Treatment plan schedule (a JSON object whose values are free-form)',
  ),
} as const;
