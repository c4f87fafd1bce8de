import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Database } from '../src/platform/db/database.ts';
import type { Driver, Tx } from '../src/platform/db/types.ts';
import { migrate } from '../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../src/platform/db/postgres.ts';
import { createOrganization } from '../src/modules/tenancy/service.ts';
import { seal } from '../src/modules/audit/sealer.ts';
import { verifyAuditLog } from '../src/modules/audit/verify.ts';
import { signerFromSeed } from '../src/modules/audit/signer.ts';

const base = 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `ward_probe_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: base });
await admin.connect();
await admin.query(`create database ${name}`);
const url = new URL(base);
url.pathname = `/${name}`;
const inner = createPostgresDriver({ connectionString: url.toString(), max: 4 });
const stats = new Map<string, { n: number; ms: number }>();
const driver: Driver = {
  engine: inner.engine,
  query: (t, p) => inner.query(t, p),
  close: () => inner.close(),
  transaction: (fn, prelude) =>
    inner.transaction((tx, rows) => {
      const w: Tx = {
        ...tx,
        query: async (text, params) => {
          const t = performance.now();
          try {
            return await tx.query(text, params);
          } finally {
            const k = text.replace(/\s+/g, ' ').trim().slice(0, 70);
            const s = stats.get(k) ?? { n: 0, ms: 0 };
            s.n++;
            s.ms += performance.now() - t;
            stats.set(k, s);
          }
        },
      } as Tx;
      return fn(w, rows);
    }, prelude),
};
const db = new Database(driver);
const raw = new pg.Client({ connectionString: url.toString() });
const N = Number(process.argv[2] ?? 300000);
try {
  await migrate(db);
  await raw.connect();
  const signer = signerFromSeed(randomBytes(32));
  await seal(db, signer);
  const org = await createOrganization(db, { name: 'P', type: 'provider' });
  await raw.query(
    `insert into audit.events (organization_id, actor_type, actor_id, action, event_type, entity_type,
     entity_id, patient_id, phi_fields, purpose_of_use, metadata)
     select $1, 'user', gen_random_uuid(), 'R', 'patient.read', 'Patient', g::text, gen_random_uuid(),
     '{ssn,date_of_birth}', 'TREAT', jsonb_build_object('n', g) from generate_series(1, $2) g`,
    [org.id, N],
  );
  stats.clear();
  let t = performance.now();
  let r = { events: 0 };
  while (r.events < N) {
    const x = await seal(db, signer, { maxBatch: 20_000, maxRounds: 1000 });
    r = { events: r.events + x.events };
    if (r.events < N) await new Promise((res) => setTimeout(res, 20));
  }
  const sealMs = performance.now() - t;
  console.log('seal', r.events, Math.round(r.events / (sealMs / 1000)), 'ev/s');
  for (const [k, v] of [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8))
    console.log(Math.round(v.ms).toString().padStart(6), v.n, k);
  stats.clear();
  t = performance.now();
  const rep = await verifyAuditLog(db, {
    orgId: org.id,
    trustedKeys: [{ keyId: signer.keyId, publicKey: signer.publicKey }],
  });
  const vMs = performance.now() - t;
  console.log('verify', rep.ok, rep.events, Math.round(rep.events / (vMs / 1000)), 'ev/s');
  for (const [k, v] of [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8))
    console.log(Math.round(v.ms).toString().padStart(6), v.n, k);
} finally {
  await raw.end();
  await db.close();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
