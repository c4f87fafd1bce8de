import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecurityEvent } from '../../src/modules/crypto/index.ts';
import { availableEngines } from '../helpers/db.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// The associated data binds every value to its row id. PostgreSQL compares uuids regardless of
// case, so a route finds the row whatever spelling of its id the client sent: the binding must
// not depend on that spelling, or an update through `/patients/<ID IN UPPER CASE>` seals the
// new values for a row id that no later read uses (the values are lost for good), and reads
// raise false tampering alarms.
for (const engine of availableEngines()) {
  describe(`a row id in upper case binds like the row's own id (${engine})`, () => {
    let api: TestApi;
    let call: (
      method: 'GET' | 'POST' | 'PATCH',
      url: string,
      payload?: unknown,
      headers?: Record<string, string>,
    ) => Promise<Awaited<ReturnType<TestApi['app']['inject']>>>;
    const events: SecurityEvent[] = [];

    before(async () => {
      api = await createTestApi(undefined, engine);
      api.rt.crypto.onSecurityEvent((e) => {
        events.push(e);
      });
      const org = await seedOrg(api, 'CASE', ['doctor']);
      const token = await tokenFor(api, org.users['doctor']!.email);
      call = (method, url, payload, headers = {}) =>
        api.app.inject({
          method,
          url: `/api/v1${url}`,
          headers: { ...auth(token, 'TREAT'), ...headers },
          ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
        });
    });
    after(async () => api.close());

    test('an update through the upper-case id stays readable, with no decrypt failure', async () => {
      const p = await call('POST', '/patients', {
        mrn: 'MRN-CASE-1',
        firstName: 'Original',
        lastName: 'Synthetic',
        dateOfBirth: '1971-02-03',
      });
      assert.equal(p.statusCode, 201, p.body);
      const id = p.json<{ id: string }>().id;
      const shouted = id.toUpperCase();
      assert.notEqual(shouted, id);

      const read = await call('GET', `/patients/${shouted}`);
      assert.equal(read.statusCode, 200, read.body);
      assert.ok(read.body.includes('Original'));

      // Only the first name: the new value is sealed for the id as the client spelled it.
      const u = await call(
        'PATCH',
        `/patients/${shouted}`,
        { firstName: 'Renamed' },
        { 'if-match': read.headers['etag'] as string },
      );
      assert.equal(u.statusCode, 200, u.body);
      const again = await call('GET', `/patients/${id}`);
      assert.equal(again.statusCode, 200, again.body);
      assert.ok(again.body.includes('Renamed'), again.body);

      // The last name: the stored birth date is opened for the combined index.
      const v = await call(
        'PATCH',
        `/patients/${shouted}`,
        { lastName: 'Synthetique' },
        { 'if-match': again.headers['etag'] as string },
      );
      assert.equal(v.statusCode, 200, v.body);
      const last = await call('GET', `/patients/${id}`);
      assert.equal(last.statusCode, 200, last.body);
      assert.ok(last.body.includes('Synthetique'), last.body);
      assert.deepEqual(
        events.filter((e) => e.type === 'crypto.decrypt_failed'),
        [],
        'no false tampering alarm',
      );
    });
  });
}
