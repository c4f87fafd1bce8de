import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { record, recordAndCommit } from '../../src/modules/audit/record.ts';
import { listEvents, namesPatient } from '../../src/modules/audit/events-query.ts';
import { seal } from '../../src/modules/audit/sealer.ts';
import { signerFromSeed } from '../../src/modules/audit/signer.ts';
import { recordSystemAccess } from '../../src/modules/audit/system-recorder.ts';
import { verifyAuditLog } from '../../src/modules/audit/verify.ts';
import { eventRowColumns } from '../../src/modules/audit/leaf.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { Database } from '../../src/platform/db/database.ts';
import type { RequestContext } from '../../src/platform/db/index.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import type { BenchResult, WorkloadOptions } from '../types.ts';

const rss = () => Math.round(process.memoryUsage().rss / 1_048_576);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0) : 0;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs `op` from `workers` concurrent loops for `ms`; returns ops/s and latencies. */
async function throughput(ms: number, workers: number, op: () => Promise<unknown>) {
  const lat: number[] = [];
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op();
        lat.push(performance.now() - t);
      }
    }),
  );
  return { opsS: lat.length / (ms / 1000), p50: pct(lat, 50), p99: pct(lat, 99), lat };
}

const recordEvent = {
  action: 'R' as const,
  eventType: 'patient.read',
  entityType: 'Patient',
  entityId: randomUUID(),
  patientId: randomUUID(),
  phiFields: ['ssn', 'date_of_birth'],
  ip: '10.1.2.3',
  userAgent: 'bench',
};

/** Sums `throughput` samples taken in alternating rounds into one figure per operation. */
async function alternating<K extends string>(
  ms: number,
  workers: number,
  ops: Record<K, () => Promise<unknown>>,
  rounds = 4,
): Promise<Record<K, { opsS: number; p50: number; p99: number }>> {
  const names = Object.keys(ops) as K[];
  const acc = {} as Record<K, { n: number; lat: number[] }>;
  for (const k of names) {
    await throughput(Math.min(500, ms / 4), workers, ops[k]); // warm-up: JIT, plans, pool
    acc[k] = { n: 0, lat: [] };
  }
  for (let r = 0; r < rounds; r++) {
    for (const k of names) {
      const { lat } = await throughput(ms / rounds, workers, ops[k]);
      acc[k].n += lat.length;
      acc[k].lat.push(...lat);
    }
  }
  const out = {} as Record<K, { opsS: number; p50: number; p99: number }>;
  for (const k of names) {
    out[k] = { opsS: acc[k].n / (ms / 1000), p50: pct(acc[k].lat, 50), p99: pct(acc[k].lat, 99) };
  }
  return out;
}

/**
 * Recording one event in a request transaction vs the same transaction without it, for a
 * write request (8 workers updating one shared row, and updating a row each) and a read
 * request, all measured in alternating rounds. Each kind also measures its floor: the same
 * transaction with the cheapest durable write in place of the event (one integer into an
 * unindexed table). An event written in the request's transaction (DESIGN section 5) can cost
 * no less than that, so the floor's ratio bounds what any event recording can reach here.
 */
async function recording(
  db: Database,
  raw: pg.Client,
  ctx: RequestContext,
  userId: string,
  ms: number,
): Promise<BenchResult[]> {
  const workers = 8;
  await raw.query('create table public.bench_floor (x int)');
  await raw.query('grant insert on public.bench_floor to ward_app');
  // One user row per worker for the distinct-rows write: a request updates its own record.
  const own: string[] = [];
  for (let i = 0; i < workers; i++) {
    const u = await createUser(db, {
      orgId: ctx.orgId,
      email: `bench-row-${i}-${randomBytes(3).toString('hex')}@example.test`,
      role: 'nurse',
      password: 'bench password for tests only',
    });
    own.push(u.id);
  }
  let turn = 0;
  const kinds = [
    ['write', 'update ward.users set last_login_at = now() where id = $1', () => userId],
    [
      'write-distinct-rows',
      'update ward.users set last_login_at = now() where id = $1',
      () => own[turn++ % workers] ?? userId,
    ],
    ['read', 'select id, email, status from ward.users where id = $1', () => userId],
  ] as const;
  const out: BenchResult[] = [];
  for (const [kind, work, id] of kinds) {
    const r = await alternating(ms, workers, {
      bare: () => db.withContext(ctx, (tx) => tx.query(work, [id()])),
      record: () =>
        db.withContext(ctx, async (tx) => {
          await tx.query(work, [id()]);
          await record(tx, recordEvent);
        }),
      // The same event as the transaction's last statement, carrying the COMMIT.
      recordAndCommit: () =>
        db.withContext(ctx, async (tx) => {
          await tx.query(work, [id()]);
          await recordAndCommit(tx, [recordEvent]);
        }),
      floor: () =>
        db.withContext(ctx, async (tx) => {
          await tx.query(work, [id()]);
          await tx.queryAndCommit('insert into public.bench_floor (x) values (1)');
        }),
    });
    for (const [op, m] of [
      [`record-in-${kind}-request`, r.record],
      [`record-and-commit-in-${kind}-request`, r.recordAndCommit],
      [`floor-cheapest-write-in-${kind}-request`, r.floor],
    ] as const) {
      out.push({
        workload: 'audit',
        op,
        ward_ops_s: round(m.opsS, 0),
        bare_ops_s: round(r.bare.opsS, 0),
        ratio: round(m.opsS / r.bare.opsS),
        p50_ms: round(m.p50),
        p99_ms: round(m.p99),
        rss_mb: rss(),
      });
    }
  }
  return out;
}

/**
 * The audit workload: (1) recording one event inside a request transaction vs the same
 * transaction without it (`recording`); (2) sealing and (3)
 * verification rates, against the raw rate of reading the same rows (bare); (4) "who accessed
 * patient X in the last 90 days" over 10 million events (200,000 with --quick), through RLS
 * vs the same query as a superuser without RLS.
 */
export async function run(opts: WorkloadOptions): Promise<BenchResult[]> {
  const name = `ward_bench_audit_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(opts.databaseUrl);
  url.pathname = `/${name}`;
  const db = new Database(createPostgresDriver({ connectionString: url.toString(), max: 12 }));
  const raw = new pg.Client({ connectionString: url.toString() });
  const out: BenchResult[] = [];
  try {
    await migrate(db);
    db.onSystemAccess(recordSystemAccess);
    await raw.connect();
    const org = await createOrganization(db, { name: 'Bench', type: 'provider' });
    const user = await createUser(db, {
      orgId: org.id,
      email: `bench-${randomBytes(3).toString('hex')}@example.test`,
      role: 'doctor',
      password: 'bench password for tests only',
    });
    const ctx = { orgId: org.id, userId: user.id, actorType: 'user' as const, purpose: 'TREAT' };
    const ms = opts.quick ? 2_000 : 8_000;
    if (!opts.skip.includes('record')) out.push(...(await recording(db, raw, ctx, user.id, ms)));

    if (!opts.skip.includes('seal')) out.push(...(await sealAndVerify(db, raw, opts)));
    if (!opts.skip.includes('query')) out.push(await whoAccessed(db, raw, org.id, ctx, opts));
  } finally {
    await raw.end().catch(() => undefined);
    await db.close();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
  return out;
}

/** Seals, then verifies, a fresh backlog of generated events (300,000; 50,000 with --quick). */
async function sealAndVerify(
  db: Database,
  raw: pg.Client,
  opts: WorkloadOptions,
): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const signer = signerFromSeed(randomBytes(32));
  await seal(db, signer);
  const n = opts.quick ? 50_000 : 300_000;
  const sealOrg = await createOrganization(db, { name: 'Seal bench', type: 'provider' });
  // Written as 1,000-event transactions, as requests and jobs write them, so the sealer cuts
  // its usual 20,000-event batches (one transaction is never split across batches).
  const perTx = 1_000;
  for (let done = 0; done < n; done += perTx) {
    await raw.query(
      `insert into audit.events (organization_id, actor_type, actor_id, action, event_type, entity_type,
                                 entity_id, patient_id, phi_fields, purpose_of_use, metadata)
       select $1, 'user', gen_random_uuid(), 'R', 'patient.read', 'Patient', g::text, gen_random_uuid(),
              '{ssn,date_of_birth}', 'TREAT', jsonb_build_object('n', g)
         from generate_series($2::int, $3::int) g`,
      [sealOrg.id, done + 1, Math.min(n, done + perTx)],
    );
  }
  await raw.query('analyze audit.events');
  // The seal horizon is cluster-wide: wait (untimed) until no other session's older
  // transaction holds it below these events, so the timing is of sealing, not of waiting.
  for (;;) {
    const h = await raw.query<{ past: boolean }>(
      `select pg_snapshot_xmin(pg_current_snapshot())
              > (select max(tx_id) from audit.events where organization_id = $1) as past`,
      [sealOrg.id],
    );
    if (h.rows[0]?.past === true) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let t = performance.now();
  const rawRows = await raw.query(
    `select ${eventRowColumns} from audit.events e where e.organization_id = $1 order by e.id`,
    [sealOrg.id],
  );
  const readS = rawRows.rows.length / ((performance.now() - t) / 1000);
  t = performance.now();
  let sealedEvents = 0;
  // Another session's open transaction can hold the (cluster-wide) horizon back for a moment.
  while (sealedEvents < n) {
    sealedEvents += (await seal(db, signer, { maxBatch: 20_000, maxRounds: 1000 })).events;
    if (sealedEvents < n) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const sealS = sealedEvents / ((performance.now() - t) / 1000);
  out.push({
    workload: 'audit',
    op: 'seal',
    ward_ops_s: round(sealS, 0),
    bare_ops_s: round(readS, 0),
    ratio: round(sealS / readS),
    p50_ms: 0,
    p99_ms: 0,
    rss_mb: rss(),
  });
  t = performance.now();
  const report = await verifyAuditLog(db, {
    orgId: sealOrg.id,
    trustedKeys: [{ keyId: signer.keyId, publicKey: signer.publicKey }],
  });
  if (!report.ok) throw new Error('verification failed during the benchmark');
  const verifyS = report.events / ((performance.now() - t) / 1000);
  out.push({
    workload: 'audit',
    op: 'verify',
    ward_ops_s: round(verifyS, 0),
    bare_ops_s: round(readS, 0),
    ratio: round(verifyS / readS),
    p50_ms: 0,
    p99_ms: 0,
    rss_mb: rss(),
  });
  return out;
}

/**
 * "Who accessed patient X in the last 90 days" over 10 M events (200,000 with --quick), plus one
 * list page in twenty that names twenty patients; bare is the same query as the superuser.
 */
async function whoAccessed(
  db: Database,
  raw: pg.Client,
  orgId: string,
  ctx: RequestContext,
  opts: WorkloadOptions,
): Promise<BenchResult> {
  const total = opts.quick ? 200_000 : 10_000_000;
  const patients = Math.max(1000, total / 100);
  await raw.query("select audit.ensure_partitions((now() - interval '7 months')::date, 8)");
  const chunk = 1_000_000;
  for (let done = 0; done < total; done += chunk) {
    await raw.query(
      `insert into audit.events (organization_id, occurred_at, actor_type, actor_id, action, event_type,
                                 entity_type, entity_id, patient_id, phi_fields, purpose_of_use)
       select $1, now() - (random() * interval '180 days'), 'user',
              ('00000000-0000-4000-8000-' || lpad((g % 500)::text, 12, '0'))::uuid, 'R', 'patient.read',
              'Patient', (g % $4)::text,
              ('00000000-0000-4000-9000-' || lpad((g % $4)::text, 12, '0'))::uuid, '{ssn}', 'TREAT'
         from generate_series($2::bigint, $3::bigint) g`,
      [orgId, done + 1, Math.min(total, done + chunk), patients],
    );
  }
  // One event in twenty more is a page of a list or search: no subject, twenty patients named
  // in metadata.patientIds, which the query must find too (a patient's access history
  // includes the pages that showed it).
  const pages = Math.floor(total / 20);
  for (let done = 0; done < pages; done += chunk) {
    await raw.query(
      `insert into audit.events (organization_id, occurred_at, actor_type, actor_id, action, event_type,
                                 entity_type, phi_fields, purpose_of_use, metadata)
       select $1, now() - (random() * interval '180 days'), 'user',
              ('00000000-0000-4000-8000-' || lpad((g % 500)::text, 12, '0'))::uuid, 'R', 'patient.list',
              'Patient', '{firstName,lastName}', 'TREAT',
              jsonb_build_object('count', 20, 'patientIds', (
                select jsonb_agg(('00000000-0000-4000-9000-' || lpad(((g * 20 + k) % $4)::text, 12, '0')))
                  from generate_series(0, 19) k))
         from generate_series($2::bigint, $3::bigint) g`,
      [orgId, done + 1, Math.min(pages, done + chunk), patients],
    );
  }
  await raw.query('analyze audit.events');
  const patient = (i: number) =>
    `00000000-0000-4000-9000-${String(i % patients).padStart(12, '0')}`;
  const since = new Date(Date.now() - 90 * 86_400_000).toISOString();
  let i = 0;
  const q = opts.quick ? 300 : 1000;
  const wardLat: number[] = [];
  for (let k = 0; k < q; k++) {
    const s = performance.now();
    await db.withContext(ctx, (tx) =>
      listEvents(tx, { patientId: patient(i++ * 7919), from: since }, { limit: 100 }),
    );
    wardLat.push(performance.now() - s);
  }
  const bareLat: number[] = [];
  for (let k = 0; k < q; k++) {
    const s = performance.now();
    await raw.query(
      `select e.id, e.occurred_at, e.actor_id, e.action, e.phi_fields from audit.events e
        where e.organization_id = $1 and ${namesPatient(2, '$1')} and e.occurred_at >= $3
        order by e.occurred_at desc, e.id desc limit 101`,
      [orgId, patient(i++ * 7919), since],
    );
    bareLat.push(performance.now() - s);
  }
  const wardS = q / (wardLat.reduce((a, b) => a + b, 0) / 1000);
  const bareS = q / (bareLat.reduce((a, b) => a + b, 0) / 1000);
  return {
    workload: 'audit',
    op: `who-accessed-patient-90d-${total}`,
    ward_ops_s: round(wardS, 0),
    bare_ops_s: round(bareS, 0),
    ratio: round(wardS / bareS),
    p50_ms: round(pct(wardLat, 50)),
    p99_ms: round(pct(wardLat, 99)),
    rss_mb: rss(),
  };
}
