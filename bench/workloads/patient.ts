import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import { compare, measure } from '../measure.ts';
import type { BenchResult, WorkloadOptions } from '../types.ts';

// A row shaped like seed 1's patient: MRN, nine PHI fields, clinical JSON.
const patientColumns = `mrn text not null, first_name text, last_name text, date_of_birth text, ssn text,
  email text, phone text, address jsonb, emergency_contact jsonb, insurance jsonb, allergies jsonb,
  status text not null default 'active', created_at timestamptz not null default now()`;

function samplePatient(i: number): unknown[] {
  return [
    `MRN-${String(i).padStart(8, '0')}`,
    'Alexandra',
    'Castellanos-Whitfield',
    '1984-07-23',
    '123-45-6789',
    `patient${i}@example.test`,
    '+15555550123',
    JSON.stringify({
      line1: '1200 Harbor Blvd',
      city: 'Oakland',
      state: 'CA',
      postalCode: '94607',
    }),
    JSON.stringify({ name: 'Jordan Castellanos', relation: 'spouse', phone: '+15555550199' }),
    JSON.stringify({ payer: 'Acme Health', memberId: 'ACM123456789', group: 'GRP-42' }),
    JSON.stringify([{ substance: 'penicillin', reaction: 'rash' }]),
  ];
}

const insertSql = (table: string, withOrg: boolean) =>
  `insert into ${table} (${withOrg ? 'organization_id, ' : ''}mrn, first_name, last_name, date_of_birth, ssn, email, phone,
     address, emergency_contact, insurance, allergies)
   values (${withOrg ? '$12, ' : ''}$1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11::jsonb) returning id`;

/**
 * Insert and read-by-id of a seed-1 patient row. Bare: a plain table through a pg pool, one
 * statement per operation. Ward: a tenant table under forced RLS, each operation in its own
 * request transaction through Database.withContext (role switch, context, RLS). Later issues
 * replace the Ward side with the full clinical stack (encryption, audit, HTTP).
 */
export async function run(opts: WorkloadOptions): Promise<BenchResult[]> {
  const total = opts.quick ? 2_000 : 20_000;
  const concurrency = 16;
  const bare = new pg.Pool({ connectionString: opts.databaseUrl, max: concurrency });
  bare.on('error', () => undefined);
  const db = new Database(
    createPostgresDriver({ connectionString: opts.databaseUrl, max: concurrency }),
  );
  try {
    await migrate(db);
    await bare.query(
      `create table bench_bare_patients (id uuid primary key default gen_random_uuid(), ${patientColumns})`,
    );
    await db.asAdmin((tx) =>
      tx.exec(`
        set local role ward_owner;
        create schema bench;
        grant usage on schema bench to ward_app;
        create table bench.patients (organization_id uuid not null references ward.organizations (id),
          id uuid not null default gen_random_uuid(), ${patientColumns}, primary key (organization_id, id));
        alter table bench.patients enable row level security;
        alter table bench.patients force row level security;
        create policy tenant on bench.patients using (organization_id = (select ward.current_org_id()))
          with check (organization_id = (select ward.current_org_id()));
        grant select, insert on bench.patients to ward_app;`),
    );
    const org = await createOrganization(db, { name: 'Bench Org', type: 'provider' });
    const ctx = {
      orgId: org.id,
      userId: randomUUID(),
      actorType: 'user' as const,
      purpose: 'TREAT',
    };

    const bareIds: string[] = [];
    const wardIds: string[] = [];
    const bareInsert = await measure(total, concurrency, async (i) => {
      const r = await bare.query<{ id: string }>(
        insertSql('bench_bare_patients', false),
        samplePatient(i),
      );
      if (r.rows[0]) bareIds.push(r.rows[0].id);
    });
    const wardInsert = await measure(total, concurrency, async (i) => {
      const id = await db.withContext(ctx, async (tx) => {
        const r = await tx.query<{ id: string }>(insertSql('bench.patients', true), [
          ...samplePatient(i),
          org.id,
        ]);
        return r.rows[0]?.id;
      });
      if (id) wardIds.push(id);
    });
    const pick = (ids: string[], i: number) => ids[(i * 7919) % ids.length];
    const bareRead = await measure(total, concurrency, (i) =>
      bare.query('select * from bench_bare_patients where id = $1', [pick(bareIds, i)]),
    );
    const wardRead = await measure(total, concurrency, (i) =>
      db.withContext(ctx, (tx) =>
        tx.query('select * from bench.patients where id = $1', [pick(wardIds, i)]),
      ),
    );
    return [
      compare('patient', 'insert', wardInsert, bareInsert),
      compare('patient', 'read_by_id', wardRead, bareRead),
    ];
  } finally {
    await bare.end();
    await db.close();
  }
}
