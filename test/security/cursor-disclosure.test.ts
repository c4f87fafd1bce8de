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

// A list that withholds rows the caller's policies deny pages on past them, so its cursor
// names the last row scanned, withheld or not. The cursor must not tell the caller which
// row that was: a withheld case's id and creation time are not the caller's to see.
describe('a list cursor discloses nothing about withheld rows', () => {
  let api: TestApi;
  let author: string;
  let outsider: string;
  const hidden: string[] = [];

  const call = (url: string, token: string, payload?: object) =>
    api.app.inject({
      method: payload ? 'POST' : 'GET',
      url: `/api/v1${url}`,
      headers: auth(token, 'TREAT'),
      ...(payload ? { payload } : {}),
    });

  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Cursor', ['admin', 'doctor', 'nurse']);
    const admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin);
    author = await tokenFor(api, org.users['doctor']!.email);
    outsider = await tokenFor(api, org.users['nurse']!.email);
    const p = await call('/patients', author, {
      mrn: 'MRN-CURSOR1',
      firstName: 'Cora',
      lastName: 'Synthetic',
      dateOfBirth: '1980-05-06',
    });
    assert.equal(p.statusCode, 201, p.body);
    for (const complaint of ['Rash', 'Fever', 'Cough']) {
      const c = await call('/cases', author, {
        patientId: p.json<{ id: string }>().id,
        chiefComplaint: complaint,
      });
      assert.equal(c.statusCode, 201, c.body);
      hidden.push(c.json<{ id: string }>().id);
    }
    const policy = await call('/access-policies', admin, {
      name: 'cursor-care-team-only',
      document: { effect: 'deny', actions: ['case:read'], resource: { careTeam: 'non-member' } },
    });
    assert.equal(policy.statusCode, 201, policy.body);
  });
  after(() => api.close());

  test('a page of withheld cases carries a cursor that names none of them', async () => {
    const r = await call('/cases?limit=1', outsider);
    assert.equal(r.statusCode, 200, r.body);
    const page = r.json<{ items: unknown[]; nextCursor: string | null }>();
    assert.deepEqual(page.items, []);
    assert.ok(page.nextCursor, 'paging continues past the withheld case');
    const decoded = Buffer.from(page.nextCursor.slice(0, -16), 'base64url').toString('latin1');
    for (const id of hidden) {
      assert.ok(!decoded.includes(id), `the cursor names the withheld case ${id}: ${decoded}`);
    }
    assert.doesNotMatch(decoded, /\d{4}-\d{2}-\d{2}/, 'the cursor carries a creation time');
    // It still pages: the rest of the list is withheld too, and the walk ends.
    let cursor: string | null = page.nextCursor;
    for (let i = 0; cursor && i < 5; i++) {
      const next = await call(`/cases?limit=1&cursor=${cursor}`, outsider);
      assert.equal(next.statusCode, 200, next.body);
      cursor = next.json<{ nextCursor: string | null }>().nextCursor;
    }
    assert.equal(cursor, null);
    // The author, on every case's care team, still walks all three.
    const all = await call('/cases?limit=200', author);
    assert.equal(all.json<{ items: unknown[] }>().items.length, 3);
  });
});
