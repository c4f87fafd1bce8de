/**
 * Audit vocabulary, aligned with FHIR R4 AuditEvent and HL7 v3 PurposeOfUse, so that events
 * can be exported as AuditEvent resources without translation.
 */

/** FHIR AuditEvent.action: Create, Read, Update, Delete, Execute. */
export const auditActions = ['C', 'R', 'U', 'D', 'E'] as const;
export type AuditAction = (typeof auditActions)[number];

/** FHIR AuditEvent.outcome: success, minor failure (e.g. denied), serious, major failure. */
export const auditOutcomes = ['0', '4', '8', '12'] as const;
export type AuditOutcome = (typeof auditOutcomes)[number];

/** Named outcomes, for readable call sites. */
export const Outcome = {
  success: '0',
  minorFailure: '4',
  seriousFailure: '8',
  majorFailure: '12',
} as const satisfies Record<string, AuditOutcome>;

/**
 * HL7 v3 PurposeOfUse codes Ward knows (subset of v3-PurposeOfUse). The column accepts any
 * upper-case token so that an organization's extension codes are not lost, but these are the
 * ones the platform itself uses and documents.
 */
export const purposeOfUseCodes = {
  TREAT: 'treatment',
  ETREAT: 'emergency treatment (break-glass)',
  HPAYMT: 'healthcare payment',
  HOPERAT: 'healthcare operations',
  HRESCH: 'healthcare research',
  PUBHLTH: 'public health',
  HCOMPL: 'compliance',
  HLEGAL: 'legal',
  PATRQT: 'patient requested',
  COVERAGE: 'coverage under policy or program',
  HSYSADMIN: 'system administration',
  HMARKT: 'marketing',
  TRAIN: 'training',
} as const;
export type PurposeOfUse = keyof typeof purposeOfUseCodes;

/** Kinds of principal in an event (seed 3: users and AI agents; plus Ward's own jobs). */
export const auditActorTypes = ['user', 'agent', 'system'] as const;

/** The reserved organization id of the platform chain (work that acts for no tenant). */
export const platformOrgId = '00000000-0000-0000-0000-000000000000';

/** Maps an HTTP status to the FHIR outcome of the request. */
export function outcomeForStatus(status: number): AuditOutcome {
  if (status < 400) return Outcome.success;
  if (status < 500) return Outcome.minorFailure;
  return Outcome.seriousFailure;
}
