import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Database, RequestContext } from '../../../platform/db/index.ts';
import { buildApp } from '../../../platform/http/app.ts';
import { createLogger } from '../../../platform/log.ts';
import { WardError } from '../../../platform/errors.ts';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../../test/helpers/db.ts';
import {
  fixtureSigner,
  seedTenant,
  type TenantFixture,
} from '../../../../test/helpers/fixtures.ts';
import { sealUntilCovered } from '../../../../test/helpers/audit.ts';
import { leafHash } from '../leaf.ts';
import { verifyInclusion } from '../merkle.ts';
import { verifySignature } from '../signer.ts';
import { phiGuard } from '../http/phi-guard.ts';
import { requestTransaction } from '../http/request-transaction.ts';
import { record } from '../record.ts';
import { recordSystemAccess } from '../system-recorder.ts';
import { auditRoutes } from './index.ts';

// A stand-in for the auth module: reads a test header and sets the request context contract.
function testAuth(contexts: Map<string, { ctx: RequestContext; perms: string[] }>) {
  const plugin: FastifyPluginAsync<{ db: Database }> = (app) => {
    app.addHook('onRequest', (req, _reply, done) => {
      const who = contexts.get(String(req.headers['x-test-user']));
      if (who) {
        req.wardContext = who.ctx;
        req.wardPermissions = new Set(who.perms);
      }
      done();
    });
    return Promise.resolve();
  };
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}

// Test-only PHI routes: one audits, one forgets to, one is denied.
const phiTestRoutes: FastifyPluginAsync<{ db: Database }> = (app, { db }) => {
  const patient = '7a0f2a55-4a41-4a5c-9a59-2f6a3e1b9c10';
  app.get('/test/phi-audited', { config: { phi: true } }, async (req) =>
    requestTransaction(req, db, async (tx) => {
      await record(tx, {
        action: 'R',
        eventType: 'patient.read',
        patientId: patient,
        phiFields: ['ssn'],
      });
      return { ok: true };
    }),
  );
  app.get('/test/phi-forgot', { config: { phi: true } }, async (req) =>
    requestTransaction(req, db, async (tx) => {
      await tx.query('select 1');
      return { ssn: '123-45-6789' };
    }),
  );
  app.get('/test/phi-bypass', { config: { phi: true } }, () => ({ ssn: '123-45-6789' }));
  app.get('/test/phi-denied', { config: { phi: true } }, () => {
    throw new WardError('forbidden');
  });
  return Promise.resolve();
};

for (const engine of availableEngines()) {
  describe(`audit HTTP routes and PHI guard (${engine})`, () => {
    let t: TestDatabase;
    let app: FastifyInstance;
    let a: TenantFixture;
    let b: TenantFixture;
    before(async () => {
      t = await createTestDatabase({ engine });
      t.db.onSystemAccess(recordSystemAccess);
      a = await seedTenant(t.db, 'HA');
      b = await seedTenant(t.db, 'HB');
      const users = new Map([
        [
          'auditor-a',
          {
            ctx: {
              orgId: a.orgId,
              userId: a.adminId,
              actorType: 'user' as const,
              purpose: 'HCOMPL',
            },
            perms: ['audit:read', 'audit:verify'],
          },
        ],
        [
          'doctor-a',
          {
            ctx: {
              orgId: a.orgId,
              userId: a.doctorId,
              actorType: 'user' as const,
              purpose: 'TREAT',
            },
            perms: [],
          },
        ],
        [
          'auditor-b',
          {
            ctx: { orgId: b.orgId, userId: b.adminId, actorType: 'user' as const },
            perms: ['audit:read', 'audit:verify'],
          },
        ],
      ]);
      app = await buildApp({
        db: t.db,
        logger: createLogger('silent'),
        plugins: [testAuth(users), phiGuard],
        modules: [auditRoutes, phiTestRoutes],
      });
    });
    after(async () => {
      await app.close();
      await t.close();
    });

    const get = (url: string, user?: string) =>
      app.inject({ method: 'GET', url, headers: user ? { 'x-test-user': user } : {} });
    const count = async (eventType: string) =>
      (
        await t.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            'select count(*)::int as n from audit.events where event_type = $1',
            [eventType],
          ),
        )
      ).rows[0]!.n;

    test('audit routes refuse without the auth context (401) or permission (403)', async () => {
      const r = await get('/api/v1/audit/events');
      assert.equal(r.statusCode, 401);
      assert.match(String(r.headers['content-type']), /application\/problem\+json/);
      assert.equal((await get('/api/v1/audit/events', 'doctor-a')).statusCode, 403);
      assert.equal((await get('/api/v1/audit/events/1/proof', 'doctor-a')).statusCode, 403);
    });

    test('an audited PHI route succeeds with exactly one event', async () => {
      const before = await count('patient.read');
      const r = await get('/api/v1/test/phi-audited', 'doctor-a');
      assert.equal(r.statusCode, 200);
      assert.equal(await count('patient.read'), before + 1);
    });

    test('a PHI route that records nothing fails, rolls back and sends no data', async () => {
      for (const url of ['/api/v1/test/phi-forgot', '/api/v1/test/phi-bypass']) {
        const before = await count('http.failed');
        const r = await get(url, 'doctor-a');
        assert.equal(r.statusCode, 500, url);
        assert.equal(r.json<{ code: string }>().code, 'audit_not_recorded');
        assert.doesNotMatch(r.body, /123-45-6789/);
        assert.equal(await count('http.failed'), before + 1, 'the failure itself is audited');
      }
    });

    test('a denied PHI request leaves exactly one event, also when unauthenticated', async () => {
      const before = await count('http.denied');
      assert.equal((await get('/api/v1/test/phi-denied', 'doctor-a')).statusCode, 403);
      assert.equal(await count('http.denied'), before + 1);
      assert.equal((await get('/api/v1/audit/events')).statusCode, 401);
      assert.equal(await count('http.denied'), before + 2);
      const r = await t.db.asAdmin((tx) =>
        tx.query<{ outcome: string; org: string }>(
          "select outcome, organization_id::text as org from audit.events where event_type = 'http.denied' order by id",
        ),
      );
      assert.deepEqual(
        r.rows.slice(-2).map((x) => x.outcome),
        ['4', '4'],
      );
      assert.equal(r.rows.at(-2)!.org, a.orgId);
    });

    test('auditors list their own events with filters and cursor pagination', async () => {
      const bad = await get('/api/v1/audit/events?eventType=x', 'auditor-a');
      assert.equal(bad.statusCode, 400, 'unknown filters are rejected');
      const own = await t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          'select count(*)::int as n from audit.events where organization_id = $1',
          [a.orgId],
        ),
      );
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const r = await get(
          `/api/v1/audit/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          'auditor-a',
        );
        assert.equal(r.statusCode, 200);
        const page = r.json<{ items: { id: number }[]; nextCursor: string | null }>();
        seen.push(...page.items.map((i) => i.id));
        cursor = page.nextCursor;
      } while (cursor && seen.length < 500);
      assert.equal(new Set(seen).size, seen.length, 'no event twice across pages');
      // Each page request is audited too, so at least the events that existed before are seen.
      assert.ok(seen.length >= own.rows[0]!.n, 'all of the organization’s events are listed');
      const byPatient = await get(
        '/api/v1/audit/events?patientId=7a0f2a55-4a41-4a5c-9a59-2f6a3e1b9c10&action=R',
        'auditor-a',
      );
      const items = byPatient.json<{ items: { patientId: string }[] }>().items;
      assert.ok(
        items.length >= 1 &&
          items.every((i) => i.patientId === '7a0f2a55-4a41-4a5c-9a59-2f6a3e1b9c10'),
      );
      const other = await get(
        '/api/v1/audit/events?patientId=7a0f2a55-4a41-4a5c-9a59-2f6a3e1b9c10',
        'auditor-b',
      );
      assert.equal(
        other.json<{ items: unknown[] }>().items.length,
        0,
        'tenant B sees none of A’s events',
      );
    });

    test('an inclusion proof verifies with only the checkpoint and the public key', async () => {
      await sealUntilCovered(t.db, fixtureSigner, [a.orgId]);
      const list = await get('/api/v1/audit/events?action=R&limit=1', 'auditor-a');
      const id = list.json<{ items: { id: number }[] }>().items[0]!.id;
      await sealUntilCovered(t.db, fixtureSigner, [a.orgId]);
      const r = await get(`/api/v1/audit/events/${id}/proof`, 'auditor-a');
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
      assert.equal((await get(`/api/v1/audit/events/${id}/proof`, 'auditor-b')).statusCode, 404);
    });
  });
}
