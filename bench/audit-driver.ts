// Standalone driver for the audit workload until the shared harness (bench/main.ts) lands:
//   node --import tsx bench/audit-driver.ts [--quick] [--json]
import { run } from './workloads/audit.ts';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const databaseUrl =
  process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const results = await run({ databaseUrl, quick });
for (const r of results) {
  console.log(
    json
      ? JSON.stringify(r)
      : `${r.op.padEnd(40)} ward ${r.ward_ops_s}/s  bare ${r.bare_ops_s}/s  ratio ${r.ratio}  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  rss ${r.rss_mb} MB`,
  );
}
