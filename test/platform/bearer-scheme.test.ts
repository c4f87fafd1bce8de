import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostileApi } from '../helpers/hostile.ts';

// RFC 9110 §11.1: the auth scheme is case-insensitive; `bearer <token>` was refused.
describe('Authorization scheme', () => {
  let h: Awaited<ReturnType<typeof hostileApi>>;
  before(async () => {
    h = await hostileApi();
  });
  after(() => h.api.close());

  test('the Authorization scheme is case-insensitive; the rest stays strict', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const r = await h.api.app.inject({
        url: '/api/v1/users',
        headers: { authorization: `${scheme} ${h.admin}` },
      });
      assert.equal(r.statusCode, 200, `${scheme}: ${r.body}`);
    }
    for (const header of [
      `Bearer${h.admin}`,
      `Basic ${h.admin}`,
      `Bearerx ${h.admin}`,
      'bearer ',
    ]) {
      const r = await h.api.app.inject({
        url: '/api/v1/users',
        headers: { authorization: header },
      });
      assert.equal(r.statusCode, 401, header);
    }
  });
});
