// Standalone driver for the crypto workload until the shared harness lands:
//   node --import tsx bench/workloads/crypto.run.ts [--quick]
// DATABASE_URL defaults to the local server; prints one JSON line per result.
import { run } from './crypto.ts';

const databaseUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
for (const r of await run({ databaseUrl, quick: process.argv.includes('--quick') })) {
  console.log(JSON.stringify(r));
}
