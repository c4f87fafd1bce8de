/**
 * Purpose of use (HL7 v3 PurposeOfUse) and the baseline of which purposes justify which
 * permissions. An organization's access policies may grant more or take away; this is what
 * holds when it has written none.
 */
export const purposeCodes = [
  'TREAT',
  'ETREAT',
  'CAREMGT',
  'HPAYMT',
  'COVAUTH',
  'HOPERAT',
  'HCOMPL',
  'HSYSADMIN',
  'HRESCH',
  'PATRQT',
  'PUBHLTH',
  'HLEGAL',
] as const;
export type PurposeCode = (typeof purposeCodes)[number];

/**
 * The code `value` is, exactly as HL7 publishes it (upper case, no spaces, no aliases), or
 * undefined. Nothing is normalized: a purpose of use is recorded on every audit event and
 * compared by access policies, so `treat` or `COMPL` must be refused rather than guessed at.
 */
export function parsePurpose(value: string | undefined): PurposeCode | undefined {
  if (value === undefined) return undefined;
  return (purposeCodes as readonly string[]).includes(value) ? (value as PurposeCode) : undefined;
}

/** Resources whose reads and writes touch PHI: a purpose of use is required for them. */
export const phiResources: ReadonlySet<string> = new Set([
  'patient',
  'case',
  'diagnosis',
  'image',
  'treatment_plan',
  'prescription',
  'policy_record',
  'prior_auth',
  'claim',
]);

/** Purposes that justify each PHI resource by default. ETREAT also needs a break-glass session. */
export const baselinePurposes: Readonly<Record<string, readonly PurposeCode[]>> = {
  patient: ['TREAT', 'ETREAT', 'CAREMGT', 'HPAYMT', 'COVAUTH', 'PATRQT'],
  case: ['TREAT', 'ETREAT', 'CAREMGT'],
  diagnosis: ['TREAT', 'ETREAT', 'CAREMGT', 'HPAYMT', 'COVAUTH'],
  image: ['TREAT', 'ETREAT'],
  treatment_plan: ['TREAT', 'ETREAT', 'CAREMGT'],
  prescription: ['TREAT', 'ETREAT'],
  policy_record: ['HPAYMT', 'COVAUTH', 'CAREMGT', 'PATRQT', 'TREAT'],
  prior_auth: ['HPAYMT', 'COVAUTH', 'TREAT'],
  claim: ['HPAYMT', 'HOPERAT'],
};

/** Patient PHI fields, as the API names them (DESIGN.md core contract). */
export const patientPhiFields = [
  'firstName',
  'lastName',
  'dateOfBirth',
  'ssn',
  'email',
  'phone',
  'address',
  'emergencyContact',
  'insurance',
] as const;
export type PatientPhiField = (typeof patientPhiFields)[number];

const all: readonly PatientPhiField[] = patientPhiFields;
const withoutSsn = patientPhiFields.filter((f) => f !== 'ssn');
const billing: readonly PatientPhiField[] = ['firstName', 'lastName', 'dateOfBirth', 'insurance'];

/**
 * Minimum necessary (45 CFR 164.502(b)): the patient fields each built-in role may see for
 * each purpose. A role and purpose not listed sees no PHI fields. Organization policies can
 * narrow these (`limit`) or widen them for a purpose (`allow` with `fields`).
 */
export const baselineFields: Readonly<
  Record<string, Partial<Record<PurposeCode, readonly PatientPhiField[]>>>
> = {
  doctor: { TREAT: all, ETREAT: all, CAREMGT: withoutSsn, PATRQT: all },
  nurse: { TREAT: withoutSsn, ETREAT: withoutSsn, CAREMGT: withoutSsn },
  reviewer: { HPAYMT: billing, COVAUTH: billing },
};
