import type { PatientPhiField, PurposeCode } from '../access/purposes.ts';
import type { PatientCipherColumn } from './patients-repo.ts';

/** The table name bound into every patient ciphertext. */
export const patientsTable = 'clinical.patients';

/** API field → encrypted column. */
export const phiColumn: Readonly<Record<PatientPhiField, PatientCipherColumn>> = {
  firstName: 'first_name_encrypted',
  lastName: 'last_name_encrypted',
  dateOfBirth: 'date_of_birth_encrypted',
  ssn: 'ssn_encrypted',
  email: 'email_encrypted',
  phone: 'phone_encrypted',
  address: 'address_encrypted',
  emergencyContact: 'emergency_contact_encrypted',
  insurance: 'insurance_encrypted',
};

/** PHI fields stored as JSON objects (the rest are strings). */
export const jsonPhiFields: ReadonlySet<PatientPhiField> = new Set([
  'address',
  'emergencyContact',
  'insurance',
]);

/** The non-identifying clinical data (allergies, vitals, conditions) by its audit names. */
export const clinicalFields = ['allergies', 'vitals', 'conditions'] as const;

// Clinical detail is for the care of the patient; payment and operations purposes get the
// identifying and billing fields their role allows and nothing clinical (minimum necessary).
const clinicalPurposes: ReadonlySet<PurposeCode> = new Set([
  'TREAT',
  'ETREAT',
  'CAREMGT',
  'PATRQT',
]);

/** What one caller may see of a patient. */
export interface Visibility {
  readonly fields: readonly PatientPhiField[];
  readonly clinical: boolean;
}

/**
 * The caller's visibility from its access decision, purpose of use and permissions: clinical
 * detail needs a care purpose and a clinical role (one that may read cases).
 */
export function visibilityFor(
  fields: readonly PatientPhiField[],
  principal: {
    readonly purpose: PurposeCode | undefined;
    readonly permissions: ReadonlySet<string>;
  },
): Visibility {
  const purpose = principal.purpose;
  return {
    fields,
    clinical:
      purpose !== undefined &&
      clinicalPurposes.has(purpose) &&
      principal.permissions.has('case:read'),
  };
}

/** Is `value` a real calendar date written YYYY-MM-DD? */
export function isIsoDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}
