import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/modules/auth/tokens.ts';
import {
  auth,
  countEvents,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

interface Operation {
  operationId: string;
  requestBody?: unknown;
  security?: unknown[];
}

interface Answer {
  status: number;
  code: string;
  body: string;
  type: string;
}

// Schema validation ran before authentication, so a caller with no valid credentials got a 400
// describing a protected route's body schema (its field names, types and formats) instead of a
// 401. Every secured route in the OpenAPI document is called with input that fails every check
// it has — path parameters, JSON body, purpose-of-use header — by a caller without a token,
// with a forged one, with a tampered one and with a revoked one: each must get a plain 401
// problem. An authenticated caller sending the same gets the validation error, so the probe
// does reach validation.
for (const engine of availableEngines()) {
  describe(`authentication comes before validation on every secured route (${engine})`, () => {
    let api: TestApi;
    let orgId: string;
    let admin: string;
    let revoked: string;
    let ops: { method: string; path: string; operationId: string; body: boolean }[];
    before(async () => {
      api = await createTestApi(undefined, engine);
      const org = await seedOrg(api, 'First', ['admin', 'doctor']);
      orgId = org.orgId;
      admin = await tokenFor(api, org.users['admin']!.email);
      await enrollTotp(api, admin);
      revoked = await tokenFor(api, org.users['doctor']!.email);
      const out = await api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: auth(revoked),
      });
      assert.ok(out.statusCode < 300, out.body);
      await api.app.ready();
      const doc = api.app.swagger() as unknown as {
        paths: Record<string, Record<string, Operation>>;
      };
      ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.entries(methods)
          .filter(([, op]) => Array.isArray(op.security) && op.security.length > 0)
          .map(([method, op]) => ({
            method: method.toUpperCase(),
            path,
            operationId: op.operationId,
            body: op.requestBody !== undefined,
          })),
      );
    });
    after(() => api.close());

    const call = async (
      op: (typeof ops)[number],
      token: string | undefined,
      payload = '[]',
    ): Promise<Answer> => {
      const r = await api.app.inject({
        method: op.method as 'GET',
        url: `${op.path.replace(/\{[^}]+\}/g, 'not-a-uuid')}?limit=0`,
        headers: {
          ...(token ? auth(token) : {}),
          'x-purpose-of-use': 'treat',
          ...(op.body ? { 'content-type': 'application/json' } : {}),
        },
        ...(op.body ? { payload } : {}),
      });
      const type = String(r.headers['content-type'] ?? '');
      const code = type.startsWith('application/problem+json')
        ? r.json<{ code: string }>().code
        : '';
      return { status: r.statusCode, code, body: r.body, type };
    };

    test('the routes are found', () => {
      assert.ok(ops.length > 40, `only ${ops.length} secured operations`);
      assert.ok(!ops.some((o) => o.operationId === 'login'), 'login is not secured');
    });

    test('no token, a forged, a tampered or a revoked one: 401, and nothing about the schema', async () => {
      const forged = mintToken('session', orgId, randomUUID()).token;
      const elsewhere = mintToken('api_key', randomUUID(), randomUUID()).token;
      const tampered = admin.slice(0, -1) + (admin.endsWith('A') ? 'B' : 'A');
      const callers: [string, string | undefined][] = [
        ['no token', undefined],
        ['a malformed token', 'not-a-token'],
        ['a forged session', forged],
        ['a forged key of another organization', elsewhere],
        ['a tampered session', tampered],
        ['a revoked session', revoked],
      ];
      const problems: string[] = [];
      for (const op of ops) {
        for (const [who, token] of callers) {
          const payloads = op.body ? ['[]', '{"unterminated": '] : ['[]'];
          for (const payload of payloads) {
            const a = await call(op, token, payload);
            if (a.status !== 401 || a.code !== 'unauthenticated') {
              problems.push(`${op.method} ${op.path} with ${who}: ${a.status} ${a.body}`);
            } else if (/"errors"|properties|must /.test(a.body)) {
              problems.push(`${op.method} ${op.path} with ${who}: 401 describes the input`);
            }
          }
        }
      }
      assert.deepEqual(problems, []);
    });

    test('an authenticated caller sending the same is told what is wrong', async () => {
      const problems: string[] = [];
      for (const op of ops) {
        const a = await call(op, admin);
        const refused = a.status === 400 || a.status === 415;
        if (!refused || !a.type.startsWith('application/problem+json'))
          problems.push(`${op.method} ${op.path}: ${a.status} ${a.body.slice(0, 200)}`);
      }
      assert.deepEqual(problems, []);
    });

    test('each refused authentication is on record once, the refusal of a valid one is not', async () => {
      const op = ops.find((o) => o.operationId === 'createPatient');
      assert.ok(op);
      const before = await countEvents(api, 'auth.request', 'unknown_session');
      const a = await call(op, mintToken('session', orgId, randomUUID()).token);
      assert.equal(a.status, 401);
      assert.equal(await countEvents(api, 'auth.request', 'unknown_session'), before + 1);
      const missing = await countEvents(api, 'auth.request', 'missing_token');
      assert.equal((await call(op, undefined)).status, 401);
      assert.equal(await countEvents(api, 'auth.request', 'missing_token'), missing + 1);
      const denied = await countEvents(api, 'http.denied');
      const ok = await call(op, admin);
      assert.equal(ok.status, 400);
      assert.equal(await countEvents(api, 'http.denied'), denied + 1, 'the PHI guard notes it');
      assert.equal(await countEvents(api, 'auth.request', 'unknown_session'), before + 1);
    });
  });
}
