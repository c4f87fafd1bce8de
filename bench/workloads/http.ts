import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { compare, cpuSampler, measure, type Cpu, type Measurement } from '../measure.ts';
import type { BenchResult, WorkloadOptions } from '../types.ts';

const concurrency = 32;
const bin = path.resolve('bin/ward.mjs');
// Fixed, bench-only keys: the server refuses to start on PostgreSQL without a KEK and a
// signing key, and the scratch database is dropped after the run.
const benchMasterKey = Buffer.alloc(32, 11).toString('base64');
const benchSigningKey = Buffer.alloc(32, 12).toString('base64');
const password = 'bench clinician passphrase of ample length';

/** The body of POST /api/v1/patients: seed 1's patient with every PHI field filled. */
function patientBody(i: number): Record<string, unknown> {
  const n = String(i).padStart(8, '0');
  return {
    mrn: `MRN-${n}`,
    firstName: 'Alexandra',
    lastName: 'Castellanos-Whitfield',
    dateOfBirth: '1984-07-23',
    ssn: `9${n.slice(-2)}-${n.slice(-4, -2)}-${n.slice(-4)}`,
    email: `patient${i}@example.test`,
    phone: `+1555${n.slice(-7)}`,
    address: { line1: '1200 Harbor Blvd', city: 'Oakland', state: 'CA', postalCode: '94607' },
    emergencyContact: { name: 'Jordan Castellanos', relationship: 'spouse', phone: '+15555550199' },
    insurance: { payer: 'Acme Health', memberId: 'ACM123456789', groupNumber: 'GRP-42' },
    allergies: [{ substance: 'penicillin', reaction: 'rash' }],
    vitals: { heartRate: 72 },
    conditions: ['I10'],
  };
}

/** The same facts as one bare row: plaintext columns, JSON as jsonb. */
function bareRow(i: number): unknown[] {
  const b = patientBody(i);
  const j = (k: string) => JSON.stringify(b[k]);
  return [
    b['mrn'],
    b['firstName'],
    b['lastName'],
    b['dateOfBirth'],
    b['ssn'],
    b['email'],
    b['phone'],
    j('address'),
    j('emergencyContact'),
    j('insurance'),
    j('allergies'),
    j('vitals'),
    j('conditions'),
  ];
}

const bareTable = `create table bench_bare_patients (id uuid primary key default gen_random_uuid(),
  mrn text not null unique, first_name text, last_name text, date_of_birth date, ssn text, email text,
  phone text, address jsonb, emergency_contact jsonb, insurance jsonb, allergies jsonb, vitals jsonb,
  conditions jsonb, created_at timestamptz not null default now(), updated_at timestamptz not null default now())`;
const bareInsert = `insert into bench_bare_patients (mrn, first_name, last_name, date_of_birth, ssn, email,
  phone, address, emergency_contact, insurance, allergies, vitals, conditions)
  values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11::jsonb, $12::jsonb, $13::jsonb)
  returning *`;

/** A keep-alive HTTP client over `concurrency` sockets, no dependency beyond node:http. */
function client(base: URL) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const send = (
    method: string,
    urlPath: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method,
          path: urlPath,
          headers: {
            ...headers,
            ...(payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': String(Buffer.byteLength(payload)),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return {
    send,
    close: () => {
      agent.destroy();
    },
  };
}

/** Starts `ward serve` on an ephemeral loopback port; resolves once it prints its address. */
async function startServer(
  databaseUrl: string,
  profileDir: string | undefined,
): Promise<{ child: ChildProcess; address: URL }> {
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(
    process.execPath,
    [...nodeArgs, bin, 'serve', '--port', '0', '--host', '127.0.0.1', '--json'],
    {
      env: {
        PATH: process.env['PATH'],
        DATABASE_URL: databaseUrl,
        WARD_MASTER_KEY: benchMasterKey,
        WARD_AUDIT_SIGNING_KEY: benchSigningKey,
        // One connection per client, like the bare side's pool, unless the run says otherwise.
        WARD_POOL_SIZE: process.env['WARD_POOL_SIZE'] ?? String(concurrency),
        // The default log level (info: one line per request): what a deployment runs with.
        WARD_LOG_LEVEL: process.env['WARD_LOG_LEVEL'] ?? 'info',
        // Rate limits are a defence, not the thing measured: 32 clients from one IP and one
        // principal would otherwise be throttled within a second.
        WARD_RATE_LIMIT_IP_PER_MINUTE: '0',
        WARD_RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    if (err.length < 10_000) err += c.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`ward serve did not start within 60 s: ${err}`));
    }, 60_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const found = out.split('\n').find((l) => l.startsWith('{"address"'));
      if (found) {
        clearTimeout(timer);
        // Keep draining the log lines so the server never blocks on a full pipe.
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(found);
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ward serve exited with ${code}: ${err}`));
    });
  });
  const address = new URL((JSON.parse(line) as { address: string }).address);
  return { child, address };
}

/** Peak resident memory of `pid` while `fn` runs, sampled from /proc every 100 ms. */
async function sampleRss<T>(
  pid: number,
  fn: () => Promise<T>,
): Promise<{ value: T; peakMb: number; hwmMb: number }> {
  const read = (field: 'VmRSS' | 'VmHWM'): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      fs.readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return m?.[1] ? Number(m[1]) / 1024 : 0;
  };
  let peak = read('VmRSS');
  const timer = setInterval(() => {
    peak = Math.max(peak, read('VmRSS'));
  }, 100);
  try {
    const value = await fn();
    peak = Math.max(peak, read('VmRSS'));
    return { value, peakMb: peak, hwmMb: read('VmHWM') };
  } finally {
    clearInterval(timer);
  }
}

/** A measurement with the CPU each operation cost (µs), split by process. */
interface Costed extends Measurement {
  readonly cpu: { node: number; server: number; pg: number };
}

function diffCpu(a: Cpu, b: Cpu, ops: number): Costed['cpu'] {
  return {
    node: (b.node - a.node) / ops,
    server: ((b.children ?? 0) - (a.children ?? 0)) / ops,
    pg: (b.pg - a.pg) / ops,
  };
}

/** A result line that only reports a memory figure (MB). */
function memoryLine(op: string, mb: number): BenchResult {
  return {
    workload: 'http',
    op,
    ward_ops_s: 0,
    bare_ops_s: 0,
    ratio: 0,
    p50_ms: 0,
    p99_ms: 0,
    rss_mb: Math.round(mb * 10) / 10,
  };
}

/**
 * Full-stack patient create and read over HTTP against a real `ward serve` child process
 * (bearer token, purpose of use, policy, RLS, encryption, blind indexes, audit), 32
 * concurrent keep-alive clients; bare = the same rows inserted and selected by id through a
 * `pg` pool of 32. Server memory is the child's resident set, read from /proc.
 * `WARD_BENCH_PROFILE=<dir>` writes a V8 CPU profile of the server to `dir`; `WARD_POOL_SIZE`
 * and `WARD_LOG_LEVEL` are passed to the server (defaults 32 and info). `http_only_healthz` is
 * the same client and server on `/healthz` (no auth, no database) against the bare select: the
 * ceiling HTTP alone puts on the ratio on this machine.
 */
export async function run(opts: WorkloadOptions): Promise<BenchResult[]> {
  const total = opts.quick ? 2_000 : 20_000;
  const setup = new Database(createPostgresDriver({ connectionString: opts.databaseUrl, max: 2 }));
  let orgEmail: string;
  try {
    await migrate(setup);
    const org = await createOrganization(setup, { name: 'Bench Clinic', type: 'provider' });
    orgEmail = 'bench.doctor@example.test';
    await createUser(setup, { orgId: org.id, email: orgEmail, role: 'doctor', password });
  } finally {
    await setup.close();
  }

  const bare = new pg.Pool({ connectionString: opts.databaseUrl, max: concurrency });
  bare.on('error', () => undefined);
  const { child, address } = await startServer(opts.databaseUrl, process.env['WARD_BENCH_PROFILE']);
  const api = client(address);
  try {
    await bare.query(bareTable);
    const login = await api.send('POST', '/api/v1/auth/login', {}, { email: orgEmail, password });
    if (login.status !== 200) throw new Error(`bench login failed with ${login.status}`);
    const token = (JSON.parse(login.text) as { accessToken: string }).accessToken;
    const headers = { authorization: `Bearer ${token}`, 'x-purpose-of-use': 'TREAT' };
    const expect = (status: number, r: { status: number; text: string }) => {
      if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text}`);
      return r.text;
    };

    const idle = await sampleRss(child.pid ?? 0, () => Promise.resolve());
    const cpu = cpuSampler(bare, new URL(opts.databaseUrl).pathname.slice(1), [child.pid ?? 0]);
    // CPU per operation over one measured run (warm-up included, which `total` dwarfs).
    const costed = async (fn: () => Promise<Measurement>): Promise<Costed> => {
      const c0 = await cpu();
      const m = await fn();
      const c1 = await cpu();
      return { ...m, cpu: diffCpu(c0, c1, total + Math.min(200, Math.floor(total / 10))) };
    };

    const bareIds: string[] = [];
    const bareCreate = await costed(() =>
      measure(total, concurrency, async (i) => {
        const r = await bare.query<{ id: string }>(bareInsert, bareRow(i));
        if (r.rows[0]) bareIds.push(r.rows[0].id);
      }),
    );
    const wardIds: string[] = [];
    const create = await sampleRss(child.pid ?? 0, () =>
      costed(() =>
        measure(total, concurrency, async (i) => {
          const text = expect(
            201,
            await api.send('POST', '/api/v1/patients', headers, patientBody(i)),
          );
          wardIds.push((JSON.parse(text) as { id: string }).id);
        }),
      ),
    );
    const pick = (ids: string[], i: number) => ids[(i * 7919) % ids.length] ?? '';
    const bareRead = await costed(() =>
      measure(total, concurrency, (i) =>
        bare.query('select * from bench_bare_patients where id = $1', [pick(bareIds, i)]),
      ),
    );
    const read = await sampleRss(child.pid ?? 0, () =>
      costed(() =>
        measure(total, concurrency, async (i) => {
          expect(200, await api.send('GET', `/api/v1/patients/${pick(wardIds, i)}`, headers));
        }),
      ),
    );
    // The ceiling the HTTP layer alone puts on any route: the same server, client and
    // concurrency on `/healthz` (no authentication, no database), against the bare select.
    const floor = await sampleRss(child.pid ?? 0, () =>
      costed(() =>
        measure(total, concurrency, async () => {
          expect(200, await api.send('GET', '/healthz', {}));
        }),
      ),
    );
    const line = (op: string, ward: { value: Costed; peakMb: number }, b: Costed) => {
      const w = ward.value.cpu;
      return {
        ...compare('http', op, ward.value, b),
        rss_mb: Math.round(ward.peakMb * 10) / 10,
        ward_cpu_us: `${Math.round(w.node)}+${Math.round(w.pg)}`,
        bare_cpu_us: `${Math.round(b.cpu.node)}+${Math.round(b.cpu.pg)}`,
        cpu_ratio: Math.round(((b.cpu.node + b.cpu.pg) / Math.max(1, w.node + w.pg)) * 100) / 100,
        ward_cpu_split_us: `${Math.round(w.node - w.server)}+${Math.round(w.server)}+${Math.round(w.pg)}`,
      };
    };
    return [
      line('create_patient', create, bareCreate),
      line('read_patient', read, bareRead),
      line('http_only_healthz', floor, bareRead),
      memoryLine('server_rss_idle_after_login', idle.peakMb),
      memoryLine('server_rss_high_water_mark', floor.hwmMb),
    ];
  } finally {
    api.close();
    await bare.end();
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  }
}
