import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPatient, searchPatients } from '../../src/modules/clinical/patients-service.ts';
import { patientIndexes } from '../../src/modules/clinical/encrypted-columns.ts';
import {
  findPatientsByIndex,
  type PatientIndexColumn,
} from '../../src/modules/clinical/patients-repo.ts';
import type { PatientSearch } from '../../src/modules/clinical/patient-model.ts';
import { createCrypto } from '../../src/modules/crypto/index.ts';
import { nameDobValue } from '../../src/modules/crypto/blind-index.ts';
import { createLocalKek } from '../../src/modules/crypto/kek/local-provider.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { createLogger } from '../../src/platform/log.ts';
import { compare, type Measurement } from '../measure.ts';
import type { BenchResult, WorkloadOptions } from '../types.ts';

type Kind = 'mrn' | 'ssn' | 'email' | 'phone' | 'nameDob';
const kinds: readonly Kind[] = ['mrn', 'ssn', 'email', 'phone', 'nameDob'];
const indexColumn: Record<Kind, PatientIndexColumn> = {
  mrn: 'mrn_bidx',
  ssn: 'ssn_bidx',
  email: 'email_bidx',
  phone: 'phone_bidx',
  nameDob: 'name_dob_bidx',
};
const lastNames = ['Okafor', 'Lindqvist', 'Ramírez', 'Nakamura', 'Castellanos-Whitfield', 'Hughes'];

/** The identifiers of real patient `i` (one of the known subset), as a client would send them. */
function identifiers(i: number) {
  const n = String(i).padStart(7, '0');
  const year = 1930 + (i % 80);
  const month = String(1 + (i % 12)).padStart(2, '0');
  const day = String(1 + (i % 28)).padStart(2, '0');
  return {
    mrn: `MRN-${n}`,
    firstName: 'Sam',
    lastName: lastNames[i % lastNames.length] ?? 'Hughes',
    dateOfBirth: `${year}-${month}-${day}`,
    ssn: `9${n.slice(-2)}-${n.slice(-4, -2)}-${n.slice(-4)}`,
    email: `patient.${i}@example.test`,
    phone: `+1555${n}`,
  };
}

function searchBody(kind: Kind, i: number): PatientSearch {
  const id = identifiers(i);
  if (kind === 'nameDob') return { lastName: id.lastName, dateOfBirth: id.dateOfBirth };
  return { [kind]: id[kind] };
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** Runs `op` `n` times one after another; `op` returns the milliseconds of its timed part. */
async function sequential(n: number, op: (i: number) => Promise<number>): Promise<Measurement> {
  const lat = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    lat[i] = await op(i);
    sum += lat[i] ?? 0;
  }
  lat.sort();
  // Throughput of the timed part alone (the statement, not its transaction).
  return { opsPerSec: (n * 1000) / sum, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
}

/**
 * Blind-index patient search over one organization holding 1,000,000 patients (`--quick`:
 * 100,000). A known subset is created through the real service (AES-GCM ciphertext, HMAC
 * blind indexes from the crypto module); the rest is generated in SQL with `generate_series`:
 * ciphertext-sized random bytes (not decryptable) and random 40-bit index values, so the
 * table, its heap and its indexes have production shape. Each search kind is then timed as the
 * app runs it: `findPatientsByIndex` inside a request transaction as `ward_app` under RLS
 * (timed around the statement only), against the same statement as the superuser without RLS
 * (bare); and the whole `searchPatients` service (index, query, confirm, decrypt).
 */
export async function run(opts: WorkloadOptions): Promise<BenchResult[]> {
  const rows = opts.quick ? 100_000 : 1_000_000;
  const known = opts.quick ? 500 : 2_000;
  const lookups = opts.quick ? 500 : 2_000;
  const db = new Database(createPostgresDriver({ connectionString: opts.databaseUrl, max: 8 }));
  const bare = new pg.Pool({ connectionString: opts.databaseUrl, max: 1 });
  bare.on('error', () => undefined);
  const logger = createLogger('silent');
  const { codec } = createCrypto(
    { current: createLocalKek(Buffer.alloc(32, 5), 'env'), previous: [] },
    logger,
  );
  try {
    await migrate(db);
    const org = await createOrganization(db, { name: 'Search Bench', type: 'provider' });
    const ctx = {
      orgId: org.id,
      userId: randomUUID(),
      actorType: 'user' as const,
      purpose: 'TREAT',
    };
    const vis = {
      fields: ['firstName', 'lastName', 'dateOfBirth', 'ssn', 'email', 'phone'] as const,
      clinical: false,
    };

    // The known subset, through the real create path (8 at a time).
    for (let start = 0; start < known; start += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, known - start) }, (_, k) =>
          db.withContext(ctx, (tx) =>
            createPatient(tx, codec, org.id, null, identifiers(start + k), {
              fields: [...vis.fields],
              clinical: false,
            }),
          ),
        ),
      );
    }
    // Ciphertext sizes as the real rows have them, so synthetic rows weigh the same.
    const sizes = await bare.query<Record<string, number>>(
      `select ${['first_name', 'last_name', 'date_of_birth', 'ssn', 'email', 'phone']
        .map((c) => `round(avg(octet_length(${c}_encrypted)))::int as ${c}`)
        .join(', ')} from clinical.patients`,
    );
    const size = sizes.rows[0] ?? {};
    const cipher = (column: string, tag: number) =>
      `substring(decode(lpad(to_hex(${tag}), 2, '0'), 'hex') || h || h || h || h from 1 for ${Math.trunc(size[column] ?? 40)})`;
    const bidx = (tag: string) => `substring(sha256(h || '${tag}'::bytea) from 1 for 5)`;
    const genStarted = performance.now();
    const batch = 100_000;
    for (let from = known; from < rows; from += batch) {
      const to = Math.min(rows, from + batch) - 1;
      await bare.query(
        `insert into clinical.patients (organization_id, id, mrn, mrn_bidx, first_name_encrypted,
           last_name_encrypted, date_of_birth_encrypted, ssn_encrypted, email_encrypted, phone_encrypted,
           ssn_bidx, email_bidx, phone_bidx, name_dob_bidx, created_at, updated_at)
         select $1, gen_random_uuid(), 'SYN-' || g, ${bidx('mrn')},
           ${cipher('first_name', 1)}, ${cipher('last_name', 2)}, ${cipher('date_of_birth', 3)},
           ${cipher('ssn', 4)}, ${cipher('email', 5)}, ${cipher('phone', 6)},
           ${bidx('ssn')}, ${bidx('email')}, ${bidx('phone')}, ${bidx('namedob')},
           now() - make_interval(secs => g), now() - make_interval(secs => g)
         from generate_series($2::int, $3::int) g, lateral (select sha256(int4send(g)) as h) x`,
        [org.id, from, to],
      );
    }
    await bare.query('vacuum analyze clinical.patients');
    const genSeconds = (performance.now() - genStarted) / 1000;
    const count = await bare.query<{ n: number }>(
      'select count(*)::int as n from clinical.patients',
    );

    const results: BenchResult[] = [];
    const planShapes: string[] = [];
    for (const kind of kinds) {
      const index = patientIndexes[kind];
      // Hashes computed up front: the figure is the database's, not the HMAC's.
      const hashes = await db.withContext(ctx, async (tx) => {
        const out: Buffer[] = [];
        for (let i = 0; i < lookups; i++) {
          const id = identifiers((i * 7919) % known);
          const value = kind === 'nameDob' ? nameDobValue(id.lastName, id.dateOfBirth) : id[kind];
          out.push(await codec.blindIndex(tx, org.id, index, value));
        }
        return out;
      });
      const hash = (i: number) => hashes[i % hashes.length] ?? Buffer.alloc(5);
      const sql = `select id from clinical.patients where organization_id = $1 and ${indexColumn[kind]} = $2`;
      const bareSide = await sequential(lookups, async (i) => {
        const t0 = performance.now();
        await bare.query(sql, [org.id, hash(i)]);
        return performance.now() - t0;
      });
      // Warm-up: a production index this hot stays cached; the first touches after the bulk
      // load would otherwise measure the disk.
      await db.withContext(ctx, async (tx) => {
        for (let i = 0; i < Math.min(lookups, 500); i++)
          await findPatientsByIndex(tx, org.id, indexColumn[kind], [hash(i)], 50);
      });
      // The server's own execution time of the same statement under RLS (EXPLAIN ANALYZE):
      // what "at the database" means, free of client scheduling on a shared machine.
      const explained = await sequential(Math.min(lookups, 500), (i) =>
        db.withContext(ctx, async (tx) => {
          const r = await tx.query<{
            'QUERY PLAN': [{ 'Execution Time': number; Plan: { 'Node Type': string } }];
          }>(`explain (analyze, format json) ${sql} order by created_at, id limit 50`, [
            org.id,
            hash(i),
          ]);
          const plan = r.rows[0]?.['QUERY PLAN'][0];
          if (i === 0)
            planShapes.push(
              `${kind}: ${JSON.stringify(plan?.Plan)
                .match(/"Node Type":"[^"]+"|"Index Name":"[^"]+"/g)
                ?.join(' ')}`,
            );
          return plan?.['Execution Time'] ?? 0;
        }),
      );
      let misses = 0;
      const wardSide = await sequential(lookups, (i) =>
        db.withContext(ctx, async (tx) => {
          const t0 = performance.now();
          const found = await findPatientsByIndex(tx, org.id, indexColumn[kind], [hash(i)], 50);
          const ms = performance.now() - t0;
          if (found.length === 0) misses++;
          return ms;
        }),
      );
      if (misses > 0) throw new Error(`search by ${kind} missed ${misses} known patients`);
      const service = await sequential(Math.min(lookups, 500), (i) =>
        db.withContext(ctx, async (tx) => {
          const t0 = performance.now();
          const r = await searchPatients(tx, codec, org.id, searchBody(kind, (i * 7919) % known), {
            fields: [...vis.fields],
            clinical: false,
          });
          if (r.value.length === 0) throw new Error(`service search by ${kind} found nothing`);
          return performance.now() - t0;
        }),
      );
      results.push(compare('search', `${kind}_query_rls`, wardSide, bareSide));
      results.push(compare('search', `${kind}_db_execution`, explained, undefined));
      results.push(compare('search', `${kind}_service`, service, undefined));
    }
    results.push({
      ...compare(
        'search',
        `rows_${count.rows[0]?.n ?? 0}_generated_s`,
        {
          opsPerSec: 0,
          p50: 0,
          p99: 0,
        },
        undefined,
      ),
      ward_ops_s: Math.round(genSeconds),
    });
    // The plans, so a run shows that every kind is an index scan (stderr keeps --json clean).
    for (const shape of planShapes) console.error(`plan ${shape}`);
    return results;
  } finally {
    await bare.end();
    await db.close();
  }
}
