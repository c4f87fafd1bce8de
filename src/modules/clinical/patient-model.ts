import type { PatientPhiField } from '../access/purposes.ts';

/** A postal address (stored encrypted as JSON). */
export interface Address {
  readonly line1?: string;
  readonly line2?: string;
  readonly city?: string;
  readonly state?: string;
  readonly postalCode?: string;
  readonly country?: string;
}

/** Whom to call (stored encrypted as JSON). */
export interface EmergencyContact {
  readonly name?: string;
  readonly relationship?: string;
  readonly phone?: string;
}

/** Coverage details (stored encrypted as JSON). */
export interface Insurance {
  readonly payer?: string;
  readonly memberId?: string;
  readonly groupNumber?: string;
  readonly planName?: string;
}

/** The PHI values of a patient, by API name. */
export interface PatientPhi {
  firstName: string;
  lastName: string;
  dateOfBirth: string;
  ssn: string | null;
  email: string | null;
  phone: string | null;
  address: Address | null;
  emergencyContact: EmergencyContact | null;
  insurance: Insurance | null;
}

export type PatientStatus = 'active' | 'inactive' | 'deceased';
export type RiskCategory = 'low' | 'moderate' | 'high' | 'critical';

/** Non-identifying clinical and administrative data, stored in plain columns. */
export interface PatientClinical {
  allergies: unknown[];
  vitals: Record<string, unknown>;
  conditions: unknown[];
  status: PatientStatus;
  dateOfDeath: string | null;
  riskCategory: RiskCategory | null;
}

/** What creating a patient takes: the core-contract fields plus clinical JSON. */
export type PatientCreate = { mrn: string } & Pick<
  PatientPhi,
  'firstName' | 'lastName' | 'dateOfBirth'
> &
  Partial<Omit<PatientPhi, 'firstName' | 'lastName' | 'dateOfBirth'>> &
  Partial<PatientClinical>;

/** A partial update; null clears an optional field. */
export type PatientPatch = Partial<{ mrn: string } & PatientPhi & PatientClinical>;

/** A patient as one caller may see it: PHI fields outside its decision are absent. */
export type PatientView = {
  id: string;
  mrn: string;
  version: number;
  createdAt: string;
  updatedAt: string;
} & Partial<PatientPhi> &
  Partial<PatientClinical>;

/** The search keys of the core contract: exactly one identifier (or last name + birth date). */
export interface PatientSearch {
  readonly mrn?: string;
  readonly ssn?: string;
  readonly email?: string;
  readonly phone?: string;
  readonly lastName?: string;
  readonly dateOfBirth?: string;
}

/** PHI fields a read disclosed, for the audit event. */
export type DisclosedFields = readonly PatientPhiField[];
