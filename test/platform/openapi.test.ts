import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestApi, type TestApi } from '../helpers/api.ts';

interface Operation {
  operationId?: string;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

// Action endpoints that take no input at all; every other mutating route declares a body.
const bodyless = new Set([
  'logout',
  'refreshSession',
  'startTotpEnrollment',
  'revokeApiKey',
  'unlockUser',
  'issueActivation',
  'revokeUserSessions',
  'deleteAccessPolicy',
  'endBreakGlass',
  'revokeGrant',
  'revokeMySession',
  'acknowledgeSecurityAlert',
]);

describe('OpenAPI document and docs page', () => {
  let api: TestApi;
  before(async () => {
    api = await createTestApi();
    await api.app.ready();
  });
  after(() => api.close());

  test('every route has an operationId, a request schema where it takes input, and response schemas', () => {
    const doc = api.app.swagger() as { paths: Record<string, Record<string, Operation>> };
    const problems: string[] = [];
    const ids = new Set<string>();
    let count = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        count++;
        const name = `${method.toUpperCase()} ${path}`;
        if (!op.operationId) problems.push(`${name}: no operationId`);
        else if (ids.has(op.operationId)) problems.push(`${name}: duplicate operationId`);
        else ids.add(op.operationId);
        const ok = Object.entries(op.responses ?? {}).filter(([s]) => s.startsWith('2'));
        if (ok.length === 0) problems.push(`${name}: no 2xx response schema`);
        for (const [status, r] of ok) {
          const schemas = Object.values(r.content ?? {}).map((c) => c.schema);
          if (schemas.length === 0 || schemas.some((s) => s === undefined)) {
            problems.push(`${name}: response ${status} has no schema`);
          }
        }
        if (
          path.startsWith('/api/v1') &&
          !Object.keys(op.responses ?? {}).some((s) => s.startsWith('4'))
        ) {
          problems.push(`${name}: no error (4xx) response schema`);
        }
        const mutating = ['post', 'put', 'patch'].includes(method);
        if (mutating && !op.requestBody && !bodyless.has(op.operationId ?? '')) {
          problems.push(`${name}: no request body schema`);
        }
      }
    }
    assert.ok(count > 30, `only ${count} operations documented`);
    assert.deepEqual(problems, []);
  });

  test('/api/openapi.json is OpenAPI 3.1 and /api/docs loads nothing from another host', async () => {
    const spec = await api.app.inject({ url: '/api/openapi.json' });
    assert.equal(spec.statusCode, 200);
    assert.equal(spec.json<{ openapi: string }>().openapi, '3.1.0');
    const page = await api.app.inject({ url: '/api/docs' });
    assert.equal(page.statusCode, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.doesNotMatch(csp, /https?:|swagger\.io/, 'the page may not fetch from elsewhere');
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.ok(ref.startsWith('/api/docs/'), `${ref} is not served locally`);
      const asset = await api.app.inject({ url: ref });
      assert.equal(asset.statusCode, 200, ref);
    }
    const init = await api.app.inject({ url: '/api/docs/static/swagger-initializer.js' });
    assert.match(init.body, /validatorUrl: null/);
  });
});
