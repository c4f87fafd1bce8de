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

interface Page {
  items: { id: string; name: string }[];
  nextCursor: string | null;
}

describe('cursor pagination on list routes', () => {
  let api: TestApi;
  let admin: string;
  let reviewer: string;
  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Pages', ['admin', 'auditor']);
    admin = await tokenFor(api, org.users['admin']!.email);
    reviewer = await tokenFor(api, org.users['auditor']!.email);
    await enrollTotp(api, admin);
    await enrollTotp(api, reviewer);
    for (const name of ['delta', 'alpha', 'charlie', 'bravo', 'echo']) {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/access-policies',
        headers: auth(admin),
        payload: {
          name,
          document: { effect: 'deny', actions: ['x:read'], actor: { roles: ['nurse'] } },
        },
      });
      assert.equal(r.statusCode, 201, r.body);
    }
  });
  after(() => api.close());

  async function walk(url: string, limit: number, token = admin): Promise<Page['items']> {
    const seen: Page['items'] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 50; i++) {
      const q: string = `limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await api.app.inject({ url: `${url}?${q}`, headers: auth(token) });
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
      const page = r.json<Page>();
      assert.ok(page.items.length <= limit);
      seen.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) return seen;
    }
    throw new Error('pagination did not terminate');
  }

  test('walking pages of any size yields every row once, in order', async () => {
    const all = await walk('/api/v1/access-policies', 200);
    const names = all.map((p) => p.name);
    assert.deepEqual(names, [...names].sort());
    for (const size of [1, 2, 3]) {
      assert.deepEqual(
        (await walk('/api/v1/access-policies', size)).map((p) => p.id),
        all.map((p) => p.id),
      );
    }
    for (const url of ['/api/v1/api-keys', '/api/v1/access/grants', '/api/v1/security-alerts']) {
      await walk(url, 1);
    }
    await walk('/api/v1/access/review-tasks', 1, reviewer);
  });

  test('a tampered cursor or one from another list is a 400 invalid_cursor; limits are bounded', async () => {
    const first = await api.app.inject({
      url: '/api/v1/access-policies?limit=1',
      headers: auth(admin),
    });
    const cursor = first.json<Page>().nextCursor ?? '';
    assert.ok(cursor);
    for (const bad of [`${cursor.slice(0, -1)}A`, `A${cursor}`]) {
      const r = await api.app.inject({
        url: `/api/v1/access-policies?cursor=${bad}`,
        headers: auth(admin),
      });
      assert.equal(r.statusCode, 400);
      assert.equal(r.json<{ code: string }>().code, 'invalid_cursor');
    }
    const other = await api.app.inject({
      url: `/api/v1/api-keys?cursor=${cursor}`,
      headers: auth(admin),
    });
    assert.equal(other.json<{ code: string }>().code, 'invalid_cursor');
    for (const limit of ['0', '201', 'ten']) {
      const r = await api.app.inject({
        url: `/api/v1/access-policies?limit=${limit}`,
        headers: auth(admin),
      });
      assert.equal(r.statusCode, 400, limit);
    }
  });
});
