import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiModules } from '../../src/api/modules.ts';
import { phiGuard } from '../../src/modules/audit/http/phi-guard.ts';
import { buildApp } from '../../src/platform/http/app.ts';
import { trustProxyFromEnv } from '../../src/platform/http/client-address.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

describe('metrics and rate limits', () => {
  let api: TestApi;
  before(async () => {
    api = await createTestApi();
  });
  after(() => api.close());

  test('/metrics labels requests by route template, never by raw URL', async () => {
    const id = '3f1c8a3e-9a64-4c1e-9a53-8c0c9d0b7a11';
    await api.app.inject({ url: `/api/v1/users/${id}` });
    await api.app.inject({ url: '/no/such/path/123-45-6789' });
    const m = await api.app.inject({ url: '/metrics' });
    assert.equal(m.statusCode, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain/);
    assert.match(
      m.body,
      /ward_http_requests_total\{method="GET",route="\/api\/v1\/users\/:id",status_code="401"\} 1/,
    );
    assert.match(m.body, /route="unmatched"/);
    assert.doesNotMatch(m.body, new RegExp(id));
    assert.doesNotMatch(m.body, /123-45-6789/);
    assert.match(m.body, /ward_process_cpu_seconds_total/);
    assert.match(m.body, /ward_http_request_duration_seconds_bucket/);
  });

  test('per-IP and per-principal limits answer 429 problem+json with Retry-After', async () => {
    const org = await seedOrg(api, 'Limits', ['admin']);
    const email = org.users['admin']?.email ?? '';
    const token = await tokenFor(api, email);
    await enrollTotp(api, token);
    const app = await buildApp({
      db: api.t.db,
      logger: api.rt.logger,
      plugins: [phiGuard],
      modules: apiModules(api.rt, { principalRateLimit: { burst: 2, perMinute: 1 } }),
      ipRateLimit: { burst: 5, perMinute: 1 },
      metrics: { token: 'scrape-secret' },
    });
    try {
      const get = (ip: string) =>
        app.inject({ url: '/api/v1/users', headers: auth(token), remoteAddress: ip });
      assert.equal((await get('10.1.0.1')).statusCode, 200);
      assert.equal((await get('10.1.0.2')).statusCode, 200);
      const byPrincipal = await get('10.1.0.3');
      assert.equal(byPrincipal.statusCode, 429, 'the principal limit follows the token across IPs');
      assert.equal(byPrincipal.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(byPrincipal.json<{ code: string }>().code, 'rate_limited');
      assert.ok(Number(byPrincipal.headers['retry-after']) >= 1);

      const anon = (ip: string) => app.inject({ url: '/api/v1/users', remoteAddress: ip });
      for (let i = 0; i < 5; i++) assert.equal((await anon('10.2.0.1')).statusCode, 401);
      const byIp = await anon('10.2.0.1');
      assert.equal(byIp.statusCode, 429);
      assert.ok(Number(byIp.headers['retry-after']) >= 1);
      assert.equal((await anon('10.2.0.2')).statusCode, 401, 'other addresses are unaffected');
      assert.equal(
        (await app.inject({ url: '/healthz', remoteAddress: '10.2.0.1' })).statusCode,
        200,
      );

      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
      const scraped = await app.inject({
        url: '/metrics',
        headers: { authorization: 'Bearer scrape-secret' },
      });
      assert.equal(scraped.statusCode, 200);
      // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
      for (const [header, status] of [
        ['bearer scrape-secret', 200],
        ['BEARER scrape-secret', 200],
        ['Bearer SCRAPE-SECRET', 401],
        ['Basic scrape-secret', 401],
      ] as const) {
        const r = await app.inject({ url: '/metrics', headers: { authorization: header } });
        assert.equal(r.statusCode, status, header);
      }
    } finally {
      await app.close();
    }
  });
});

describe('guessing the /metrics token', () => {
  test('failed token attempts are limited per client address: 429 with Retry-After, even for the right token', async () => {
    const api = await createTestApi();
    // No per-IP limit at all: the scrape endpoint must still not take unlimited guesses.
    const app = await buildApp({
      db: api.t.db,
      logger: api.rt.logger,
      metrics: { token: 'scrape-secret-0123456789' },
    });
    try {
      const scrape = (token: string, remoteAddress: string) =>
        app.inject({
          url: '/metrics',
          remoteAddress,
          headers: { authorization: `Bearer ${token}` },
        });
      // A scraper that gets it right is never charged.
      for (let i = 0; i < 15; i++)
        assert.equal((await scrape('scrape-secret-0123456789', '10.5.0.1')).statusCode, 200);
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++)
        statuses.push((await scrape(`guess-${i}`, '10.6.0.1')).statusCode);
      assert.deepEqual(statuses, [...Array<number>(10).fill(401), 429, 429]);
      // Once limited the answer no longer depends on the token, so it tells a guesser nothing.
      const right = await scrape('scrape-secret-0123456789', '10.6.0.1');
      assert.equal(right.statusCode, 429);
      assert.equal(right.json<{ code: string }>().code, 'rate_limited');
      assert.match(String(right.headers['content-type']), /^application\/problem\+json/);
      assert.ok(Number(right.headers['retry-after']) >= 1);
      const missing = await app.inject({ url: '/metrics', remoteAddress: '10.6.0.1' });
      assert.equal(missing.statusCode, 429);
      // Addresses of one IPv6 /64 are one client.
      for (let i = 1; i <= 10; i++)
        assert.equal((await scrape('nope', `2001:db8:7:7::${i.toString(16)}`)).statusCode, 401);
      assert.equal((await scrape('nope', '2001:db8:7:7::ff')).statusCode, 429);
      // Other clients are unaffected.
      assert.equal((await scrape('scrape-secret-0123456789', '10.5.0.1')).statusCode, 200);
      assert.equal((await scrape('wrong', '10.7.0.1')).statusCode, 401);
    } finally {
      await app.close();
      await api.close();
    }
  });
});

describe('the per-IP limit and IPv6', () => {
  test('addresses of one IPv6 /64 share a bucket; an IPv4-mapped address is its IPv4', async () => {
    const api = await createTestApi();
    const app = await buildApp({
      db: api.t.db,
      logger: api.rt.logger,
      ipRateLimit: { burst: 3, perMinute: 1 },
      metrics: false,
    });
    try {
      const get = (ip: string) => app.inject({ url: '/api/v1/nothing', remoteAddress: ip });
      // One client hands itself a fresh address of its /64 for every request.
      const statuses: number[] = [];
      for (let i = 1; i <= 5; i++)
        statuses.push((await get(`2001:db8:1:2::${i.toString(16)}`)).statusCode);
      assert.deepEqual(
        statuses,
        [404, 404, 404, 429, 429],
        'rotating within a /64 escapes the limit',
      );
      assert.equal((await get('2001:db8:1:3::1')).statusCode, 404, 'another /64 is another client');

      for (let i = 0; i < 3; i++) assert.equal((await get('192.0.2.7')).statusCode, 404);
      assert.equal((await get('::ffff:192.0.2.7')).statusCode, 429);
    } finally {
      await app.close();
      await api.close();
    }
  });
});

describe('behind a reverse proxy (WARD_TRUST_PROXY)', () => {
  test('clients behind the trusted proxy get their own buckets; others cannot spoof X-Forwarded-For', async () => {
    const api = await createTestApi();
    const app = await buildApp({
      db: api.t.db,
      logger: api.rt.logger,
      ipRateLimit: { burst: 2, perMinute: 1 },
      metrics: false,
      trustProxy: trustProxyFromEnv({ WARD_TRUST_PROXY: '10.9.0.1, 10.8.0.0/16' }),
    });
    try {
      const get = (remoteAddress: string, forwardedFor?: string) =>
        app.inject({
          url: '/api/v1/nothing',
          remoteAddress,
          ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}),
        });
      // Two clients behind the proxy: one exhausting its bucket leaves the other alone.
      for (let i = 0; i < 2; i++)
        assert.equal((await get('10.9.0.1', '203.0.113.1')).statusCode, 404);
      assert.equal((await get('10.9.0.1', '203.0.113.1')).statusCode, 429);
      assert.equal(
        (await get('10.9.0.1', '203.0.113.2')).statusCode,
        404,
        'the proxy is not one client',
      );
      // A client cannot pick its address by prepending to the header the proxy appends to.
      assert.equal((await get('10.8.3.4', '198.51.100.7, 203.0.113.1')).statusCode, 429);
      // A direct client's X-Forwarded-For is ignored.
      for (let i = 0; i < 2; i++)
        assert.equal((await get('192.0.2.50', `198.51.100.${i}`)).statusCode, 404);
      assert.equal((await get('192.0.2.50', '198.51.100.99')).statusCode, 429);
    } finally {
      await app.close();
      await api.close();
    }
  });

  test('WARD_TRUST_PROXY takes addresses and CIDR blocks, never "everyone"', () => {
    assert.equal(trustProxyFromEnv({}), undefined);
    assert.equal(trustProxyFromEnv({ WARD_TRUST_PROXY: ' ' }), undefined);
    assert.deepEqual(trustProxyFromEnv({ WARD_TRUST_PROXY: '10.0.0.1,fd00::/8' }), [
      '10.0.0.1',
      'fd00::/8',
    ]);
    for (const bad of [
      'true',
      '*',
      '0.0.0.0/0',
      '::/0',
      'proxy.internal',
      '10.0.0.0/33',
      '10.0.0.1,',
    ]) {
      assert.throws(
        () => trustProxyFromEnv({ WARD_TRUST_PROXY: bad }),
        { code: 'config_invalid' },
        bad,
      );
    }
  });
});
