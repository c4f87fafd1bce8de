import type { FastifyPluginAsync } from 'fastify';
import { apiModules } from '../../src/api/modules.ts';
import { PrincipalCache } from '../../src/modules/access/principal-cache.ts';
import { PolicyCache } from '../../src/modules/access/policy-cache.ts';
import { securedRoute } from '../../src/modules/access/secured-route.ts';
import { createCrypto } from '../../src/modules/crypto/index.ts';
import { createLocalKek } from '../../src/modules/crypto/kek/local-provider.ts';
import { hashPassword, verifyPassword } from '../../src/modules/auth/passwords.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { Database } from '../../src/platform/db/database.ts';
import type { Tx } from '../../src/platform/db/index.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { buildApp } from '../../src/platform/http/app.ts';
import { object } from '../../src/platform/http/schemas.ts';
import { createLogger } from '../../src/platform/log.ts';
import { compare, measure, type Measurement } from '../measure.ts';
import type { BenchResult, WorkloadOptions } from '../types.ts';

/** Sequential latencies → throughput (1 / mean) and percentiles. */
function summarize(lat: number[]): Measurement {
  const sorted = [...lat].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  const sum = lat.reduce((a, b) => a + b, 0);
  return { opsPerSec: (lat.length * 1000) / sum, p50: at(0.5), p99: at(0.99) };
}

/**
 * Authentication and authorization overhead. The same route body (one query in a request
 * transaction) is served twice through `inject`: once behind the secured pipeline (bearer
 * token checked inside the transaction's opening round trip, policies evaluated), once with a
 * fixed context and no authentication. Sequential requests in interleaved blocks, so the
 * difference of medians is the added latency per request. Also the argon2id cost of one login.
 */
export async function run(opts: WorkloadOptions): Promise<BenchResult[]> {
  const total = opts.quick ? 1_000 : 10_000;
  const db = new Database(createPostgresDriver({ connectionString: opts.databaseUrl, max: 4 }));
  try {
    await migrate(db);
    const org = await createOrganization(db, { name: 'Bench', type: 'provider' });
    const password = 'bench password that is long enough';
    const user = await createUser(db, {
      orgId: org.id,
      email: 'bench.doctor@example.test',
      role: 'doctor',
      password,
    });
    const logger = createLogger('silent');
    const crypto = createCrypto(
      { current: createLocalKek(Buffer.alloc(32, 3), 'env'), previous: [] },
      logger,
    );
    const rt = { config: loadConfig({}), db, logger, crypto };
    const secured = {
      db,
      policies: new PolicyCache(),
      principals: new PrincipalCache(),
      requestHash: (tx: Tx, orgId: string, text: string) =>
        crypto.codec.requestHash(tx, orgId, text),
    };
    const probe: FastifyPluginAsync = (app) => {
      securedRoute(app, secured, {
        method: 'GET',
        url: '/bench/secured',
        permission: 'organization:read',
        schema: { response: { 200: object({ n: { type: 'integer' } }) } },
        handler: async ({ tx }) => ({
          n: (await tx.query<{ n: number }>('select 1 as n')).rows[0]?.n ?? 0,
        }),
      });
      app.get(
        '/bench/open',
        { schema: { response: { 200: object({ n: { type: 'integer' } }) } } },
        async () =>
          db.withContext({ orgId: org.id, userId: user.id, actorType: 'user' }, async (tx) => ({
            n: (await tx.query<{ n: number }>('select 1 as n')).rows[0]?.n ?? 0,
          })),
      );
      return Promise.resolve();
    };
    const app = await buildApp({ db, logger, modules: [...apiModules(rt), probe] });
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'bench.doctor@example.test', password },
    });
    const token = login.json<{ accessToken: string }>().accessToken;
    const headers = { authorization: `Bearer ${token}` };
    // Interleaved blocks, so a change in the machine's load during the run (it is shared)
    // hits both sides alike instead of whichever happened to run second.
    const rounds = 10;
    const openLat: number[] = [];
    const authedLat: number[] = [];
    const timed = async (into: number[], n: number, op: () => Promise<unknown>) => {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await op();
        into.push(performance.now() - t0);
      }
    };
    await timed([], 200, () => app.inject({ url: '/api/v1/bench/open' }));
    await timed([], 200, () => app.inject({ url: '/api/v1/bench/secured', headers }));
    for (let r = 0; r < rounds; r++) {
      await timed(openLat, total / rounds, () => app.inject({ url: '/api/v1/bench/open' }));
      await timed(authedLat, total / rounds, () =>
        app.inject({ url: '/api/v1/bench/secured', headers }),
      );
    }
    const open = summarize(openLat);
    const authed = summarize(authedLat);
    const hash = await hashPassword(password);
    const argon = await measure(opts.quick ? 10 : 40, 1, () => verifyPassword(hash, password));
    await app.close();
    return [
      compare('auth', 'authenticated_request', authed, open),
      {
        ...compare('auth', 'added_median_ms', authed, open),
        ward_ops_s: 0,
        bare_ops_s: 0,
        ratio: 0,
        p50_ms: Math.round((authed.p50 - open.p50) * 1000) / 1000,
        p99_ms: Math.round((authed.p99 - open.p99) * 1000) / 1000,
      },
      compare('auth', 'argon2id_verify', argon, undefined),
    ];
  } finally {
    await db.close();
  }
}
