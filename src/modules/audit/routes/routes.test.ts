import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { availableEngines } from '../../../../test/helpers/db.ts';
import { fixtureSigner } from '../../../../test/helpers/fixtures.ts';
import { sealUntilCovered } from '../../../../test/helpers/audit.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../../../../test/helpers/api.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { WardError } from '../../../platform/errors.ts';
import { leafHash } from '../leaf.ts';
import { verifyInclusion } from '../merkle.ts';
import { verifySignature } from '../signer.ts';

const patient = '7a0f2a55-4a41-4a5c-9a59-2f6a3e1b9c10';

// Test-only PHI routes: one audits, one forgets to, one bypasses the pipeline entirely.
function phiTestRoutes(deps: SecuredDeps): FastifyPluginAsync {
  return async (app) => {
    const schema = { response: { 200: { type: 'object', additionalProperties: true } } };
    securedRoute(app, deps, {
      method: 'GET',
      url: '/test/phi-audited',
      permission: 'patient:read',
      phi: true,
      schema,
      handler: async ({ audit }) => {
        await audit({
          action: 'R',
          eventType: 'patient.read',
          patientId: patient,
          phiFields: ['ssn'],
        });
        return { ok: true };
      },
    });
    securedRoute(app, deps, {
      method: 'GET',
      url: '/test/phi-forgot',
      permission: 'patient:read',
      phi: true,
      schema,
      handler: async ({ tx }) => {
        await tx.query('select 1');
        return { ssn: '123-45-6789' };
      },
    });
    securedRoute(app, deps, {
      method: 'GET',
      url: '/test/phi-audit-then-fail',
      permission: 'patient:read',
      phi: true,
      schema,
      handler: async ({ audit }) => {
        await audit({
          action: 'R',
          eventType: 'patient.read',
          patientId: patient,
          phiFields: ['ssn'],
        });
        throw new WardError('conflict', 'The record changed underneath');
      },
    });
    app.get('/test/phi-bypass', { config: { phi: true } }, async () => ({ ssn: '123-45-6789' }));
  };
}

for (const engine of availableEngines()) {
  describe(`audit HTTP routes and PHI guard (${engine})`, () => {
    let api: TestApi;
    let a: Awaited<ReturnType<typeof seedOrg>>;
    let b: Awaited<ReturnType<typeof seedOrg>>;
    const tokens: Record<string, string> = {};
    before(async () => {
      api = await createTestApi((deps) => [phiTestRoutes(deps)], engine);
      a = await seedOrg(api, 'HA', ['auditor', 'doctor']);
      b = await seedOrg(api, 'HB', ['auditor']);
      tokens['auditor-a'] = await tokenFor(api, a.users['auditor']!.email);
      tokens['doctor-a'] = await tokenFor(api, a.users['doctor']!.email);
      tokens['auditor-b'] = await tokenFor(api, b.users['auditor']!.email);
      // Reading the audit trail requires MFA (access/principal.ts).
      await enrollTotp(api, tokens['auditor-a']);
      await enrollTotp(api, tokens['auditor-b']);
    });
    after(async () => api.close());

    const get = (url: string, user?: string, purpose?: string) =>
      api.app.inject({ method: 'GET', url, headers: user ? auth(tokens[user]!, purpose) : {} });
    const total = async () =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number }>('select count(*)::int as n from audit.events'),
        )
      ).rows[0]!.n;
    const count = async (eventType: string) =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            'select count(*)::int as n from audit.events where event_type = $1',
            [eventType],
          ),
        )
      ).rows[0]!.n;

    test('audit routes refuse without authentication (401) or permission (403)', async () => {
      const r = await get('/api/v1/audit/events');
      assert.equal(r.statusCode, 401);
      assert.match(String(r.headers['content-type']), /application\/problem\+json/);
      assert.equal((await get('/api/v1/audit/events', 'doctor-a', 'HOPERAT')).statusCode, 403);
      assert.equal(
        (await get('/api/v1/audit/events/1/proof', 'doctor-a', 'HOPERAT')).statusCode,
        403,
      );
    });

    test('an audited PHI route succeeds with exactly one event', async () => {
      const before = await total();
      const r = await get('/api/v1/test/phi-audited', 'doctor-a', 'TREAT');
      assert.equal(r.statusCode, 200);
      assert.equal((await total()) - before, 1);
    });

    test('a PHI route that records nothing fails, rolls back and sends no data; the failure is audited', async () => {
      for (const url of ['/api/v1/test/phi-forgot', '/api/v1/test/phi-bypass']) {
        const before = await count('http.failed');
        const r = await get(url, 'doctor-a', 'TREAT');
        assert.equal(r.statusCode, 500, url);
        assert.equal(r.json<{ code: string }>().code, 'audit_not_recorded');
        assert.doesNotMatch(r.body, /123-45-6789/);
        assert.equal((await count('http.failed')) - before, 1, 'the failure itself is audited');
      }
    });

    test('a PHI handler that audits and then fails leaves exactly one event: the failure', async () => {
      const before = await total();
      const reads = await count('patient.read');
      const r = await get('/api/v1/test/phi-audit-then-fail', 'doctor-a', 'TREAT');
      assert.equal(r.statusCode, 409);
      assert.equal((await total()) - before, 1);
      assert.equal(await count('patient.read'), reads, 'the rolled-back read event is gone');
      const last = await api.t.db.asAdmin((tx) =>
        tx.query<{ event_type: string; outcome: string; org: string }>(
          'select event_type, outcome, organization_id::text as org from audit.events order by id desc limit 1',
        ),
      );
      assert.deepEqual(last.rows[0], { event_type: 'http.denied', outcome: '4', org: a.orgId });
    });

    test('a denied or unauthenticated PHI request leaves exactly one event', async () => {
      let before = await total();
      assert.equal((await get('/api/v1/test/phi-audited', 'doctor-a', 'HRESCH')).statusCode, 403);
      assert.equal((await total()) - before, 1);
      const denial = await api.t.db.asAdmin((tx) =>
        tx.query<{ org: string; outcome: string }>(
          "select organization_id::text as org, outcome from audit.events where event_type = 'access.denied' order by id desc limit 1",
        ),
      );
      assert.deepEqual(denial.rows[0], { org: a.orgId, outcome: '4' });
      before = await total();
      assert.equal((await get('/api/v1/audit/events')).statusCode, 401);
      assert.equal((await total()) - before, 1);
    });

    test('auditors list their own events with filters and cursor pagination', async () => {
      const bad = await get('/api/v1/audit/events?eventType=x', 'auditor-a', 'HCOMPL');
      assert.equal(bad.statusCode, 400, 'unknown filters are rejected');
      const own = await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          'select count(*)::int as n from audit.events where organization_id = $1',
          [a.orgId],
        ),
      );
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const r = await get(
          `/api/v1/audit/events?limit=25${cursor ? `&cursor=${cursor}` : ''}`,
          'auditor-a',
          'HCOMPL',
        );
        assert.equal(r.statusCode, 200);
        const page = r.json<{ items: { id: number }[]; nextCursor: string | null }>();
        seen.push(...page.items.map((i) => i.id));
        cursor = page.nextCursor;
      } while (cursor && seen.length < 2000);
      assert.equal(new Set(seen).size, seen.length, 'no event twice across pages');
      assert.ok(seen.length >= own.rows[0]!.n, 'all of the organization’s events are listed');
      const byPatient = await get(
        `/api/v1/audit/events?patientId=${patient}&action=R`,
        'auditor-a',
        'HCOMPL',
      );
      const items = byPatient.json<{ items: { patientId: string }[] }>().items;
      assert.ok(items.length >= 1 && items.every((i) => i.patientId === patient));
      const other = await get(`/api/v1/audit/events?patientId=${patient}`, 'auditor-b', 'HCOMPL');
      assert.equal(
        other.json<{ items: unknown[] }>().items.length,
        0,
        'tenant B sees none of A’s events',
      );
    });

    test('an inclusion proof verifies with only the checkpoint and the public key', async () => {
      await sealUntilCovered(api.t.db, fixtureSigner, [a.orgId]);
      const list = await get(
        `/api/v1/audit/events?patientId=${patient}&limit=1`,
        'auditor-a',
        'HCOMPL',
      );
      const id = list.json<{ items: { id: number }[] }>().items[0]!.id;
      await sealUntilCovered(api.t.db, fixtureSigner, [a.orgId]);
      const r = await get(`/api/v1/audit/events/${id}/proof`, 'auditor-a', 'HCOMPL');
      assert.equal(r.statusCode, 200, r.body);
      const p = r.json<{
        leaf: string;
        leafIndex: number;
        treeSize: number;
        auditPath: string[];
        checkpoint: { payload: string; signature: string };
      }>();
      const payload = JSON.parse(p.checkpoint.payload) as { root: string };
      assert.ok(
        verifyInclusion(
          leafHash(Buffer.from(p.leaf, 'base64')),
          p.leafIndex,
          p.treeSize,
          p.auditPath.map((h) => Buffer.from(h, 'hex')),
          Buffer.from(payload.root, 'hex'),
        ),
      );
      assert.ok(
        verifySignature(
          fixtureSigner.publicKey,
          Buffer.from(p.checkpoint.payload),
          Buffer.from(p.checkpoint.signature, 'base64'),
        ),
      );
      assert.equal(
        (await get(`/api/v1/audit/events/${id}/proof`, 'auditor-b', 'HCOMPL')).statusCode,
        404,
      );
    });
  });
}
