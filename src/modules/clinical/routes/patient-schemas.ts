import { dateTime, nullableString, object, uuid } from '../../../platform/http/schemas.ts';

const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const nullable = <T extends Record<string, unknown>>(s: T) => ({
  anyOf: [s, { type: 'null' }],
});
const isoDate = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } as const;

const address = object(
  {
    line1: text(200),
    line2: text(200),
    city: text(100),
    state: text(100),
    postalCode: text(20),
    country: text(60),
  },
  [],
);
const emergencyContact = object({ name: text(200), relationship: text(60), phone: text(40) }, []);
const insurance = object(
  { payer: text(200), memberId: text(60), groupNumber: text(60), planName: text(200) },
  [],
);
// Clinical JSON is flexible by design (seed 1: JSONB), but bounded.
const clinicalList = { type: 'array', maxItems: 200 } as const;
const vitals = { type: 'object', maxProperties: 50 } as const;
const status = { type: 'string', enum: ['active', 'inactive', 'deceased'] } as const;
const risk = { type: 'string', enum: ['low', 'moderate', 'high', 'critical'] } as const;
const mrn = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const;

/** POST /patients body: the core-contract fields plus clinical JSON. */
export const patientCreateBody = object(
  {
    mrn,
    firstName: text(100),
    lastName: text(100),
    dateOfBirth: isoDate,
    ssn: text(20),
    email: text(254),
    phone: text(40),
    address,
    emergencyContact,
    insurance,
    allergies: clinicalList,
    vitals,
    conditions: clinicalList,
    status,
    riskCategory: risk,
  },
  ['mrn', 'firstName', 'lastName', 'dateOfBirth'],
);

/** PATCH /patients/{id} body: any subset; null clears an optional field. */
export const patientPatchBody = {
  ...object(
    {
      mrn,
      firstName: text(100),
      lastName: text(100),
      dateOfBirth: isoDate,
      ssn: nullable(text(20)),
      email: nullable(text(254)),
      phone: nullable(text(40)),
      address: nullable(address),
      emergencyContact: nullable(emergencyContact),
      insurance: nullable(insurance),
      allergies: clinicalList,
      vitals,
      conditions: clinicalList,
      status,
      dateOfDeath: nullable(isoDate),
      riskCategory: nullable(risk),
    },
    [],
  ),
  minProperties: 1,
} as const;

/** POST /patients/search body: one identifier, or last name with date of birth. */
export const patientSearchBody = {
  ...object(
    {
      mrn,
      ssn: text(20),
      email: text(254),
      phone: text(40),
      lastName: text(100),
      dateOfBirth: isoDate,
    },
    [],
  ),
  minProperties: 1,
  maxProperties: 2,
} as const;

/** A patient as the caller may see it: PHI fields it may not see are absent. */
export const patientSchema = object(
  {
    id: uuid,
    mrn: { type: 'string' },
    version: { type: 'integer' },
    status,
    dateOfDeath: nullableString,
    riskCategory: nullableString,
    firstName: { type: 'string' },
    lastName: { type: 'string' },
    dateOfBirth: { type: 'string' },
    ssn: nullableString,
    email: nullableString,
    phone: nullableString,
    address: nullable(address),
    emergencyContact: nullable(emergencyContact),
    insurance: nullable(insurance),
    allergies: { type: 'array' },
    vitals: { type: 'object', additionalProperties: true },
    conditions: { type: 'array' },
    createdAt: dateTime,
    updatedAt: dateTime,
  },
  ['id', 'mrn', 'version', 'status', 'createdAt', 'updatedAt'],
);
