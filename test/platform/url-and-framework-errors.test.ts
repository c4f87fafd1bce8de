import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth } from '../helpers/api.ts';
import { assertProblem, hostileApi, type Problem } from '../helpers/hostile.ts';

// NUL in a query or path parameter was a 500; a malformed %-escape or an over-long parameter
// got Fastify's own JSON, which echoed the path and lacked the security headers.
describe('URLs and errors raised before routing', () => {
  let h: Awaited<ReturnType<typeof hostileApi>>;
  before(async () => {
    h = await hostileApi();
  });
  after(() => h.api.close());

  test('NUL in a query string or path parameter is a 400 validation_failed', async () => {
    for (const [url, token] of [
      ['/audit/events?entityType=%00', h.auditor],
      ['/audit/events?entityId=a%00b', h.auditor],
      ['/medications?q=%00', h.doctor],
      ['/medications?q=lisin%00', h.doctor],
      ['/users?cursor=%00', h.admin],
      ['/users?after=%00', h.admin],
      ['/patients/%00', h.doctor],
      ['/nothing/%00', undefined],
    ] as const) {
      assertProblem(await h.send('GET', url, token), 'validation_failed', url);
    }
  });

  test('a malformed %-escape is problem+json with the security headers and no echo', async () => {
    const url = '/api/v1/patients/%ZZ-Yarborough-994-00-1304';
    const r = await h.api.app.inject({ url, headers: { 'x-request-id': 'bad-url-00001' } });
    assertProblem(r, 'bad_request', 'bad url');
    assert.ok(!r.body.includes('Yarborough') && !r.body.includes('994-00-1304'), r.body);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    // Generated: a client that is not a trusted proxy does not name its request id.
    assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(
      r.json<{ instance: string }>().instance,
      `urn:ward:request:${String(r.headers['x-request-id'])}`,
    );
    assert.ok(!r.body.includes('FST_'), 'no framework codes');
  });

  test('an over-long path parameter is problem+json with no echo', async () => {
    const r = await h.api.app.inject({ url: `/api/v1/patients/${'Yarborough-'.repeat(20)}` });
    assert.ok(r.statusCode === 400 || r.statusCode === 404, String(r.statusCode));
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.ok(!r.body.includes('Yarborough'), r.body);
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  test('content-type and body errors before routing are problem+json too', async () => {
    const r = await h.api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: { ...auth(h.doctor, 'TREAT'), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'mrn=A',
    });
    assert.equal(r.statusCode, 415);
    assert.equal(r.json<Problem>().code, 'unsupported_media_type');
    assert.equal(r.headers['cache-control'], 'no-store');
    const empty = await h.send('POST', '/patients', h.doctor, '');
    assertProblem(empty, 'bad_request', 'empty body');
  });
});
