import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

describe('ETag and If-Match on versioned resources', () => {
  let api: TestApi;
  let admin: string;
  let nurseId: string;
  let policyId: string;
  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Etag', ['admin', 'nurse']);
    admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin);
    nurseId = org.users['nurse']!.id;
    const p = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: { name: 'etag-policy', document: { effect: 'deny', actions: ['x:read'] } },
    });
    assert.equal(p.statusCode, 201, p.body);
    policyId = p.json<{ id: string }>().id;
  });
  after(() => api.close());

  const cases = [
    {
      name: 'user',
      read: () => `/api/v1/users/${nurseId}`,
      write: () => `/api/v1/users/${nurseId}`,
      a: { displayName: 'A' },
      b: { displayName: 'B' },
    },
    {
      name: 'policy',
      read: () => `/api/v1/access-policies/${policyId}`,
      write: () => `/api/v1/access-policies/${policyId}`,
      a: { description: 'A' },
      b: { description: 'B' },
    },
    {
      name: 'settings',
      read: () => '/api/v1/organization',
      write: () => '/api/v1/organization/settings',
      a: { lockoutThreshold: 7 },
      b: { lockoutThreshold: 9 },
    },
  ];

  for (const c of cases) {
    test(`${c.name}: missing If-Match is 428, stale is 412 and loses nothing, current succeeds`, async () => {
      const read = await api.app.inject({ url: c.read(), headers: auth(admin) });
      assert.equal(read.statusCode, 200, read.body);
      const etag = String(read.headers.etag);
      assert.match(etag, /^"[A-Za-z0-9_-]{27}"$/);
      const patch = (ifMatch?: string, payload: object = c.a) =>
        api.app.inject({
          method: 'PATCH',
          url: c.write(),
          headers: { ...auth(admin), ...(ifMatch ? { 'if-match': ifMatch } : {}) },
          payload,
        });
      const missing = await patch();
      assert.equal(missing.statusCode, 428);
      assert.equal(missing.json<{ code: string }>().code, 'precondition_required');
      assert.equal((await patch(`W/${etag}`)).statusCode, 412, 'weak tags never match If-Match');

      const first = await patch(etag);
      assert.equal(first.statusCode, 200, first.body);
      const next = String(first.headers.etag);
      assert.notEqual(next, etag, 'an update changes the ETag');

      const stale = await patch(etag, c.b);
      assert.equal(stale.statusCode, 412);
      assert.equal(stale.json<{ code: string }>().code, 'precondition_failed');
      const now = await api.app.inject({ url: c.read(), headers: auth(admin) });
      assert.equal(String(now.headers.etag), next, 'the stale write changed nothing');
      assert.doesNotMatch(now.body, /"B"|:9[,}]/);

      assert.equal(
        (await patch(`"nope", ${next}`, c.b)).statusCode,
        200,
        'any listed tag may match',
      );
    });
  }
});
