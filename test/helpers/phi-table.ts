import { randomUUID } from 'node:crypto';
import { nameDobValue, type FieldCodec } from '../../src/modules/crypto/index.ts';
import { ColumnRegistry } from '../../src/modules/crypto/registry.ts';
import { agentContextColumn } from '../../src/modules/crypto/encrypted-columns.ts';
import type { Database, Queryable } from '../../src/platform/db/index.ts';

/** Seed 1's nine encrypted patient fields. */
export const patientFields = [
  'first_name_encrypted',
  'last_name_encrypted',
  'date_of_birth_encrypted',
  'ssn_encrypted',
  'email_encrypted',
  'phone_encrypted',
  'address_encrypted',
  'emergency_contact_encrypted',
  'insurance_encrypted',
] as const;
export type PatientField = (typeof patientFields)[number];

/** A registry with the real agent context column plus the test patient table. */
export function patientRegistry(): ColumnRegistry {
  const r = new ColumnRegistry();
  r.encrypted(agentContextColumn);
  for (const column of patientFields) {
    r.encrypted({
      schema: 'test_phi',
      table: 'patients',
      column,
      idColumn: 'id',
      kind: 'text',
      purpose: 'test',
    });
  }
  return r;
}

/** Blind indexes of the test patient table (40 bits: 10 million rows per organization). */
export const patientIndexes = {
  mrn: {
    schema: 'test_phi',
    table: 'patients',
    column: 'mrn_bidx',
    idColumn: 'id',
    sources: ['mrn'],
    kind: 'mrn',
    bits: 40,
    purpose: 'MRN search',
  },
  ssn: {
    schema: 'test_phi',
    table: 'patients',
    column: 'ssn_bidx',
    idColumn: 'id',
    sources: ['ssn_encrypted'],
    kind: 'ssn',
    bits: 40,
    purpose: 'SSN search',
  },
  email: {
    schema: 'test_phi',
    table: 'patients',
    column: 'email_bidx',
    idColumn: 'id',
    sources: ['email_encrypted'],
    kind: 'email',
    bits: 40,
    purpose: 'email search',
  },
  phone: {
    schema: 'test_phi',
    table: 'patients',
    column: 'phone_bidx',
    idColumn: 'id',
    sources: ['phone_encrypted'],
    kind: 'phone',
    bits: 40,
    purpose: 'phone search',
  },
  nameDob: {
    schema: 'test_phi',
    table: 'patients',
    column: 'name_dob_bidx',
    idColumn: 'id',
    sources: ['last_name_encrypted', 'date_of_birth_encrypted'],
    kind: 'name_dob',
    bits: 40,
    purpose: 'last name + birth date',
  },
} as const;

/**
 * Creates a seed-1-shaped patient table (clinical arrives in a later issue) with forced RLS
 * and the grants the request role and the rewrap job need.
 */
export async function createPatientTable(db: Database): Promise<void> {
  await db.asAdmin((tx) =>
    tx.exec(`
      create schema if not exists test_phi;
      grant usage on schema test_phi to ward_app, ward_system;
      create table test_phi.patients (
        organization_id uuid not null references ward.organizations (id),
        id uuid not null,
        ${patientFields.map((f) => `${f} bytea`).join(',\n')},
        mrn_bidx bytea, ssn_bidx bytea, email_bidx bytea, phone_bidx bytea, name_dob_bidx bytea,
        primary key (organization_id, id));
      create index on test_phi.patients (organization_id, email_bidx);
      alter table test_phi.patients enable row level security;
      alter table test_phi.patients force row level security;
      create policy tenant on test_phi.patients using (organization_id = (select ward.current_org_id()));
      grant select, insert, update on test_phi.patients to ward_app, ward_system;`),
  );
}

/** A realistic synthetic patient. */
export function syntheticPatient(n: number): Record<PatientField, string> & { mrn: string } {
  return {
    mrn: `MRN-${String(n).padStart(7, '0')}`,
    first_name_encrypted: `Firstname${n}`,
    last_name_encrypted: `Lastname${n}`,
    date_of_birth_encrypted: `19${String(50 + (n % 49)).padStart(2, '0')}-0${1 + (n % 9)}-1${n % 9}`,
    ssn_encrypted: `${String(100 + (n % 800)).padStart(3, '0')}-${String(10 + (n % 89))}-${String(1000 + (n % 8999))}`,
    email_encrypted: `patient${n}@example.test`,
    phone_encrypted: `+1555${String(1000000 + n).slice(-7)}`,
    address_encrypted: JSON.stringify({
      line1: `${n} Main Street`,
      city: 'Springfield',
      zip: '12345',
    }),
    emergency_contact_encrypted: JSON.stringify({ name: `Contact ${n}`, phone: '+15550000000' }),
    insurance_encrypted: JSON.stringify({ payer: 'Acme Health', memberId: `M${n}` }),
  };
}

/** Inserts a patient through the codec (9 encrypted fields + 5 blind indexes); returns its id. */
export async function insertPatient(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  p: ReturnType<typeof syntheticPatient>,
): Promise<string> {
  const row = await sealPatient(q, codec, orgId, p);
  await q.query(row.sql, row.params);
  return row.id;
}

/**
 * Encrypts and blind-indexes a patient (keys load through `q` on a cache miss) and returns the
 * INSERT to run, so a caller can make it its transaction's last statement.
 */
export async function sealPatient(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  p: ReturnType<typeof syntheticPatient>,
): Promise<{ id: string; sql: string; params: unknown[] }> {
  const id = randomUUID();
  const { mrn, ...fields } = p;
  const sealed = await codec.encryptRow(
    q,
    { orgId, table: 'test_phi.patients', rowId: id },
    fields,
  );
  // Sequential: one transaction is one connection, which runs one statement at a time.
  const idx = [
    await codec.blindIndex(q, orgId, patientIndexes.mrn, mrn),
    await codec.blindIndex(q, orgId, patientIndexes.ssn, p.ssn_encrypted),
    await codec.blindIndex(q, orgId, patientIndexes.email, p.email_encrypted),
    await codec.blindIndex(q, orgId, patientIndexes.phone, p.phone_encrypted),
    await codec.blindIndex(
      q,
      orgId,
      patientIndexes.nameDob,
      nameDobValue(p.last_name_encrypted, p.date_of_birth_encrypted),
    ),
  ];
  return {
    id,
    sql: `insert into test_phi.patients (organization_id, id, ${patientFields.join(', ')}, mrn_bidx, ssn_bidx, email_bidx, phone_bidx, name_dob_bidx)
     values ($1, $2, ${patientFields.map((_, i) => `$${i + 3}`).join(', ')}, $12, $13, $14, $15, $16)`,
    params: [orgId, id, ...patientFields.map((f) => sealed[f]), ...idx],
  };
}
