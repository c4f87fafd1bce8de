import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

interface Operation {
  requestBody?: unknown;
}

const hostileStrings = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '../../etc/passwd',
    "' or 1=1 --",
    '%00',
    '\uD800',
    'x'.repeat(70_000),
  ),
);
const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  hostileStrings,
  fc.array(hostileStrings, { maxLength: 3 }),
  fc.dictionary(hostileStrings, fc.oneof(hostileStrings, fc.integer(), fc.constant(null)), {
    maxKeys: 4,
  }),
);
const rawBodies = fc.oneof(
  anyJson.map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '{',
    '{"a":',
    '[1,2',
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{}}}',
    'null',
    '"str"',
  ),
);
const pathIds = fc.oneof(
  fc.uuid(),
  fc.constantFrom('not-a-uuid', '0', '%2e%2e', '00000000-0000-0000-0000-000000000000'),
);
const hostileHeaders = fc.record(
  {
    'if-match': hostileStrings.map((s) => s.replace(/[^\x20-\x7e]/g, '').slice(0, 200)),
    'idempotency-key': hostileStrings.map((s) => s.replace(/[^\x20-\x7e]/g, '').slice(0, 200)),
    'x-purpose-of-use': fc.constantFrom('TREAT', 'NOPE', '', 'treat'),
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'application/xml',
      'application/json; charset=utf-16',
      // The streamed upload route's types: every other route must refuse them with a 415.
      'image/png',
      'application/dicom',
    ),
  },
  { requiredKeys: ['content-type'] },
);

// Walks the OpenAPI document and throws malformed input at every route with a valid token:
// no response may be a 5xx, and no table may change (every request is invalid by construction
// or rejected before its handler writes).
describe('API fuzz over the OpenAPI document', () => {
  let api: TestApi;
  let token: string;
  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Fuzz', ['admin']);
    token = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, token);
  });
  after(() => api.close());

  const counts = async () => {
    const r = await api.t.db.asAdmin((tx) =>
      tx.query<{ t: string; n: number }>(
        `select format('%I.%I', schemaname, relname) as t, n_live_tup::int as n from pg_stat_user_tables order by 1`,
      ),
    );
    const exact: Record<string, number> = {};
    for (const row of r.rows) {
      if (row.t.startsWith('audit.')) continue; // rejected requests are audited, by design
      const c = await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(`select count(*)::int as n from ${row.t}`),
      );
      exact[row.t] = c.rows[0]?.n ?? 0;
    }
    return exact;
  };

  test(
    'no 5xx and no state change for malformed input on every route',
    { timeout: 240_000 },
    async () => {
      await api.app.ready();
      const doc = api.app.swagger() as { paths: Record<string, Record<string, Operation>> };
      const ops = Object.entries(doc.paths)
        .filter(([p]) => p.startsWith('/api/v1/'))
        .flatMap(([p, m]) =>
          Object.keys(m).map((method) => ({ path: p, method: method.toUpperCase() })),
        );
      assert.ok(ops.length > 30);
      const before = await counts();
      const deadline = Date.now() + 150_000;
      for (const op of ops) {
        // Input-free actions on the fuzzing session itself (logout, refresh, session revokes)
        // are valid whatever the body, so they would legitimately change state.
        if (/\/auth\/(logout|refresh)$|sessions/.test(op.path)) continue;
        if (Date.now() > deadline) break;
        await fc.assert(
          fc.asyncProperty(
            pathIds,
            rawBodies,
            hostileHeaders,
            hostileStrings,
            async (id, body, headers, q) => {
              const url =
                op.path.replace(/\{[^}]+\}/g, encodeURIComponent(id)) +
                `?limit=${encodeURIComponent(q.slice(0, 50).replace(/[\uD800-\uDFFF]/g, ''))}&zz=1`;
              const hasBody = op.method !== 'GET' && op.method !== 'DELETE';
              const r = await api.app.inject({
                method: op.method as 'GET',
                url,
                headers: { ...auth(token), ...headers },
                ...(hasBody ? { payload: body } : {}),
              });
              assert.ok(
                r.statusCode < 500,
                `${op.method} ${url} → ${r.statusCode} ${r.body.slice(0, 300)}`,
              );
            },
          ),
          { numRuns: 8, seed: 42 },
        );
      }
      assert.deepEqual(await counts(), before);
    },
  );
});
