import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { BenchResult, Workload } from './types.ts';

// Workloads by name; each file in bench/workloads exports `run`.
const workloads: Record<string, () => Promise<{ run: Workload }>> = {
  patient: () => import('./workloads/patient.ts'),
  auth: () => import('./workloads/auth.ts'),
  crypto: () => import('./workloads/crypto.ts'),
  audit: () => import('./workloads/audit.ts'),
  http: () => import('./workloads/http.ts'),
  search: () => import('./workloads/search.ts'),
};

function usage(): string {
  return `usage: npm run bench -- <${Object.keys(workloads).join('|')}|all> [--json] [--quick] [--skip PART]...
Needs DATABASE_URL pointing at a PostgreSQL server; each run creates and drops its own database.
--skip leaves out a part of a workload (audit: record, seal, query — query builds 10 M events).`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      json: { type: 'boolean' },
      quick: { type: 'boolean' },
      skip: { type: 'string', multiple: true },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const name = positionals[0];
  if (values.help || !name || (name !== 'all' && !(name in workloads))) {
    console.error(usage());
    return 2;
  }
  const base = process.env['DATABASE_URL'];
  if (!base) {
    console.error(
      'bench: DATABASE_URL must point at a PostgreSQL server (bare PostgreSQL is measured in the same run)',
    );
    return 2;
  }
  const selected = name === 'all' ? Object.keys(workloads) : [name];
  const results: BenchResult[] = [];
  for (const w of selected) {
    const dbName = `ward_bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    const url = new URL(base);
    url.pathname = `/${dbName}`;
    try {
      const load = workloads[w];
      if (!load) continue;
      const mod = await load();
      for (const r of await mod.run({
        databaseUrl: url.toString(),
        quick: values.quick === true,
        skip: values.skip ?? [],
      })) {
        results.push(r);
        if (values.json) console.log(JSON.stringify(r));
      }
    } finally {
      await admin.query(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
  }
  if (!values.json) {
    console.log(
      `machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    );
    console.table(results);
  }
  return 0;
}

process.exitCode = await main();
