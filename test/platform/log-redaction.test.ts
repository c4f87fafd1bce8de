import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { apiModules } from '../../src/api/modules.ts';
import { phiGuard } from '../../src/modules/audit/http/phi-guard.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { buildApp } from '../../src/platform/http/app.ts';
import { createLogger } from '../../src/platform/log.ts';
import { testCrypto } from '../helpers/crypto.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// Values that look like PHI. None of them may reach a log line, whatever the route does.
const ssn = '078-05-1120';
const name = 'Zebulon Quixote-Marchbanks';
const dob = '1931-02-29';
const email = 'zebulon.quixote@patient.example';
const markers = [ssn, name, dob, email, 'Quixote'];

describe('logs never carry PHI from bodies, query strings or headers', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  const lines: string[] = [];
  before(async () => {
    t = await createTestDatabase();
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = createLogger('trace', sink);
    const rt = { config: loadConfig({}), db: t.db, logger, crypto: testCrypto() };
    app = await buildApp({ db: t.db, logger, plugins: [phiGuard], modules: apiModules(rt) });
  });
  after(async () => {
    await app.close();
    await t.close();
  });

  test('a sample of routes, good and bad input', async () => {
    const hostile = { 'x-patient-name': name, 'user-agent': `agent ${ssn}`, referer: email };
    const requests = [
      { method: 'POST', url: '/api/v1/auth/login', payload: { email, password: ssn } },
      { method: 'POST', url: '/api/v1/auth/login', payload: { email, password: name, extra: dob } },
      {
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: `{"email":"${email}", "ssn": "${ssn}"`,
      },
      { method: 'GET', url: `/api/v1/users?after=${encodeURIComponent(email)}&q=${ssn}` },
      { method: 'GET', url: `/api/v1/users/${ssn}` },
      { method: 'GET', url: `/api/v1/patients/by-name/${encodeURIComponent(name)}?dob=${dob}` },
      {
        method: 'POST',
        url: '/api/v1/users',
        payload: { email, role: 'nurse', displayName: name },
      },
      { method: 'GET', url: `/api/v1/audit/events?patientId=${ssn}` },
      { method: 'POST', url: '/api/v1/access-policies/search', payload: { ssn } },
      { method: 'GET', url: `/healthz?ssn=${ssn}` },
    ] as const;
    for (const r of requests) {
      const res = await app.inject({
        method: r.method,
        url: r.url,
        headers: { ...hostile, authorization: `Bearer ${ssn}`, 'content-type': 'application/json' },
        ...('payload' in r ? { payload: r.payload } : {}),
      });
      assert.ok(res.statusCode < 500, `${r.method} ${r.url}: ${res.statusCode}`);
    }
    const log = lines.join('');
    assert.ok(lines.length >= requests.length, 'requests were logged');
    for (const m of markers) {
      assert.equal(log.includes(m), false, `${m} appeared in the logs`);
      assert.equal(log.includes(encodeURIComponent(m)), false, `${m} (URL-encoded) appeared`);
    }
    assert.match(log, /"route":"\/api\/v1\/users\/:id"/);
    assert.match(log, /"route":"\(unmatched\)"/);
  });
});
