// PHI encryption benchmark: Ward's encrypted, RLS-scoped patient insert and read-by-id against
// the same rows in plaintext through a bare pool, plus rewrap throughput under a read load.
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { testCrypto } from '../../test/helpers/crypto.ts';
import { seedTenant } from '../../test/helpers/fixtures.ts';
import {
  createPatientTable,
  patientFields,
  patientRegistry,
  sealPatient,
  syntheticPatient,
} from '../../test/helpers/phi-table.ts';
import { cpuSampler, type Cpu } from '../measure.ts';
import type { BenchResult, WorkloadOptions } from '../types.ts';

const clients = 16;

/** Runs the crypto workload against a scratch database on `databaseUrl`. */
export async function run(opts: WorkloadOptions): Promise<BenchResult[]> {
  const seconds = opts.quick ? 2 : 6;
  const name = `ward_bench_crypto_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(opts.databaseUrl);
  url.pathname = `/${name}`;
  const db = new Database(createPostgresDriver({ connectionString: url.toString(), max: clients }));
  const bare = new pg.Pool({ connectionString: url.toString(), max: clients });
  bare.on('error', () => undefined);
  cpu = cpuSampler(admin, name);
  try {
    await migrate(db);
    const crypto = testCrypto();
    const org = await seedTenant(db, 'bench');
    await createPatientTable(db);
    await db.asAdmin((tx) =>
      tx.exec(`create table test_phi.patients_plain (organization_id uuid not null, id uuid not null,
        ${patientFields.map((f) => `${f} text`).join(', ')}, mrn text, primary key (organization_id, id));
        create index on test_phi.patients_plain (organization_id, email_encrypted);
        grant select, insert on test_phi.patients_plain to ward_app;`),
    );
    const ctx = { orgId: org.orgId, actorType: 'user' as const };
    let n = 0;
    const wardIds: string[] = [];
    const bareIds: string[] = [];
    const results: BenchResult[] = [];

    // Each comparison runs its sides in alternating rounds after an uncounted warm-up (JIT,
    // pool connections, key caches, statement preparation), so a load spike from other work on
    // the shared machine lands on all sides alike instead of on whichever ran at that moment.
    const ins = await interleaved(seconds, {
      // The INSERT is the transaction's last statement, so it carries the COMMIT: with the
      // pipelined opening, the whole request is one round trip on the wire.
      ward: async () => {
        const id = await db.withContext(ctx, async (tx) => {
          const row = await sealPatient(tx, crypto.codec, org.orgId, syntheticPatient(n++));
          await tx.queryAndCommit(row.sql, row.params);
          return row.id;
        });
        wardIds.push(id);
      },
      bare: async () => {
        const p = syntheticPatient(n++);
        const id = randomUUID();
        const { mrn, ...f } = p;
        await bare.query(
          `insert into test_phi.patients_plain (organization_id, id, ${patientFields.join(', ')}, mrn)
           values ($1, $2, ${patientFields.map((_, i) => `$${i + 3}`).join(', ')}, $12)`,
          [org.orgId, id, ...patientFields.map((k) => f[k]), mrn],
        );
        bareIds.push(id);
      },
      // Where the time goes: the same plaintext insert through Ward's request path (transaction,
      // role switch, context) isolates the platform's cost from the cryptography's.
      plainPath: () =>
        db.withContext(ctx, async (tx) => {
          const { mrn, ...f } = syntheticPatient(n++);
          await tx.queryAndCommit(
            `insert into test_phi.patients_plain (organization_id, id, ${patientFields.join(', ')}, mrn)
             values ($1, $2, ${patientFields.map((_, i) => `$${i + 3}`).join(', ')}, $12)`,
            [org.orgId, randomUUID(), ...patientFields.map((k) => f[k]), mrn],
          );
        }),
    });
    results.push(line('insert_patient_16c', ins.ward, ins.bare));
    results.push(line('insert_patient_16c_vs_ward_plaintext_path', ins.ward, ins.plainPath));

    const pick = (ids: string[]) => ids[Math.floor(Math.random() * ids.length)] ?? '';
    // A read-only request: the SELECT commits with its transaction (one round trip) and the
    // row is decrypted afterwards from cached keys; a key-cache miss loads the key through a
    // fresh transaction under the same context (so RLS still decides which keys it may load).
    const keyLoader = {
      query: <R>(text: string, params?: readonly unknown[]) =>
        db.withContext(ctx, (tx) => tx.query<R>(text, params)),
    };
    const readWard = async () => {
      const id = pick(wardIds);
      const r = await db.withContext(ctx, (tx) =>
        tx.queryAndCommit<Record<string, Buffer | null>>(
          `select ${patientFields.join(', ')} from test_phi.patients where organization_id = $1 and id = $2`,
          [org.orgId, id],
        ),
      );
      return crypto.codec.decryptRow(
        keyLoader,
        { orgId: org.orgId, table: 'test_phi.patients', rowId: id },
        r.rows[0] ?? {},
        patientFields,
      );
    };
    const read = await interleaved(seconds, {
      ward: readWard,
      bare: () =>
        bare.query(
          `select ${patientFields.join(', ')} from test_phi.patients_plain where organization_id = $1 and id = $2`,
          [org.orgId, pick(bareIds)],
        ),
      plainPath: () =>
        db.withContext(ctx, (tx) =>
          tx.queryAndCommit(
            `select ${patientFields.join(', ')} from test_phi.patients_plain where organization_id = $1 and id = $2`,
            [org.orgId, pick(bareIds)],
          ),
        ),
    });
    results.push(line('read_by_id_decrypt_all_16c', read.ward, read.bare));
    results.push(
      line('read_by_id_decrypt_all_16c_vs_ward_plaintext_path', read.ward, read.plainPath),
    );

    // Rewrap: rotate, then move every value while 4 readers keep reading; once flat out, and
    // once held to 12,000 values/s with `maxValuesPerSecond` (`ward keys rewrap --rate`), the
    // knob an operator uses to leave room for production traffic.
    const registry = patientRegistry();
    for (const rate of [undefined, 12_000]) {
      await rotateDataKeys(
        { db, keyring: crypto.keyring, events: crypto.events, registry },
        org.orgId,
      );
      const values = wardIds.length * patientFields.length;
      // The baseline pools reads taken just before and just after the rewrap, so a slow spell
      // of the shared machine on one side of it does not decide the ratio alone.
      const before = await timed(seconds / 2, readWard, 4);
      let rewrapDone = false;
      const started = performance.now();
      const rewrap = rewrapValues(
        { db, keyring: crypto.keyring, events: crypto.events },
        {
          orgId: org.orgId,
          registry,
          batchSize: 1000,
          settleMs: 0,
          ...(rate ? { maxValuesPerSecond: rate } : {}),
        },
      ).then((r) => {
        rewrapDone = true;
        return r;
      });
      const during = await measure(3600, readWard, 4, () => rewrapDone);
      const report = await rewrap;
      const secondsRewrap = (performance.now() - started) / 1000;
      const afterwards = await timed(seconds / 2, readWard, 4);
      const baseline = summarize({
        lat: [...before.lat, ...afterwards.lat],
        elapsed: before.elapsed + afterwards.elapsed,
        node: before.node + afterwards.node,
        pg: before.pg + afterwards.pg,
      });
      const rewrapped = report.organizations[0]?.rewrapped ?? 0;
      results.push({
        workload: 'crypto',
        op: `rewrap_values_under_reads${rate ? `_rate_${rate}` : ''} (${values} values; read p99 ${round(during.p99)} ms vs baseline ${round(baseline.p99)} ms)`,
        ward_ops_s: round(rewrapped / secondsRewrap),
        bare_ops_s: 0,
        ratio: round(during.p99 / baseline.p99),
        p50_ms: round(during.p50),
        p99_ms: round(during.p99),
        rss_mb: rss(),
      });
    }
    return results;
  } finally {
    await db.close();
    await bare.end();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

interface Measured {
  opsS: number;
  p50: number;
  p99: number;
  /** CPU time per operation, µs: this process, and the scratch database's server backends. */
  nodeUs: number;
  pgUs: number;
}

let cpu: () => Promise<Cpu> = () => Promise.resolve({ node: 0, pg: 0 });

/**
 * Measures every op of `ops` for `seconds` in total: an uncounted warm-up of each, then
 * `rounds` alternating rounds (A, B, C, A, B, C, …) whose counts and latencies are pooled.
 */
async function interleaved<K extends string>(
  seconds: number,
  ops: Record<K, () => Promise<unknown>>,
  rounds = 3,
): Promise<Record<K, Measured>> {
  const names = Object.keys(ops) as K[];
  const samples = {} as Record<K, Timed>;
  for (const k of names) {
    await timed(Math.min(1, seconds / 4), ops[k]);
    samples[k] = { lat: [], elapsed: 0, node: 0, pg: 0 };
  }
  for (let r = 0; r < rounds; r++) {
    for (const k of names) {
      const t = await timed(seconds / rounds, ops[k]);
      const acc = samples[k];
      acc.lat.push(...t.lat);
      acc.elapsed += t.elapsed;
      acc.node += t.node;
      acc.pg += t.pg;
    }
  }
  const out = {} as Record<K, Measured>;
  for (const k of names) out[k] = summarize(samples[k]);
  return out;
}

/** Runs `op` from `concurrency` loops for `seconds` (or until `stop`), timing each call. */
async function measure(
  seconds: number,
  op: () => Promise<unknown>,
  concurrency = clients,
  stop?: () => boolean,
): Promise<Measured> {
  return summarize(await timed(seconds, op, concurrency, stop));
}

interface Timed {
  lat: number[];
  elapsed: number;
  node: number;
  pg: number;
}

async function timed(
  seconds: number,
  op: () => Promise<unknown>,
  concurrency = clients,
  stop?: () => boolean,
): Promise<Timed> {
  const lat: number[] = [];
  const c0 = await cpu();
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end && !(stop?.() ?? false)) {
        const s = performance.now();
        await op();
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = await cpu();
  return { lat, elapsed, node: c1.node - c0.node, pg: c1.pg - c0.pg };
}

function summarize(t: Timed): Measured {
  const lat = t.lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  const n = Math.max(1, lat.length);
  return {
    opsS: lat.length / t.elapsed,
    p50: q(0.5),
    p99: q(0.99),
    nodeUs: t.node / n,
    pgUs: t.pg / n,
  };
}

function line(op: string, ward: Measured, bareM: Measured): BenchResult {
  return {
    workload: 'crypto',
    op,
    ward_ops_s: round(ward.opsS),
    bare_ops_s: round(bareM.opsS),
    ratio: round(ward.opsS / bareM.opsS),
    p50_ms: round(ward.p50),
    p99_ms: round(ward.p99),
    rss_mb: rss(),
    ward_cpu_us: `${Math.round(ward.nodeUs)}+${Math.round(ward.pgUs)}`,
    bare_cpu_us: `${Math.round(bareM.nodeUs)}+${Math.round(bareM.pgUs)}`,
    cpu_ratio: round((bareM.nodeUs + bareM.pgUs) / Math.max(1, ward.nodeUs + ward.pgUs)),
  };
}

const round = (x: number) => Math.round(x * 100) / 100;
const rss = () => round(process.memoryUsage().rss / 2 ** 20);
