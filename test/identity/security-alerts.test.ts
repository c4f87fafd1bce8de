import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

interface Alert {
  id: string;
  status: string;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  resolution: string | null;
  notes: string | null;
}

for (const engine of availableEngines()) {
  describe(`security alerts: acknowledge and resolve (${engine})`, () => {
    let api: TestApi;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    let auditor: string;
    let doctor: string;
    let admin: string;
    let adminSecret: Buffer;

    /** Raises an alert about `subject` the way detectors do (straight into the table). */
    const raise = async (subject: string | null): Promise<string> =>
      api.t.db.asAdmin(async (tx) => {
        const r = await tx.query<{ id: string }>(
          `insert into ward.security_alerts (organization_id, kind, severity, subject_user_id, details)
           values ($1, 'auth.lockout', 'medium', $2, '{"attempts": 30}') returning id`,
          [org.orgId, subject],
        );
        return (r.rows[0] as { id: string }).id;
      });
    const stored = async (id: string) =>
      api.t.db.asAdmin(async (tx) => {
        const r = await tx.query<{ status: string; resolution: string | null }>(
          'select status, resolution from ward.security_alerts where id = $1',
          [id],
        );
        return r.rows[0];
      });
    const post = (token: string, id: string, step: 'acknowledge' | 'resolve', payload?: object) =>
      api.app.inject({
        method: 'POST',
        url: `/api/v1/security-alerts/${id}/${step}`,
        headers: auth(token),
        ...(payload ? { payload } : {}),
      });

    before(async () => {
      api = await createTestApi(undefined, engine);
      org = await seedOrg(api, 'Alerts', ['admin', 'auditor', 'doctor']);
      auditor = await tokenFor(api, org.users['auditor']!.email);
      // Handling alerts requires MFA (access/principal.ts).
      await enrollTotp(api, auditor, Date.now() - 30_000);
      doctor = await tokenFor(api, org.users['doctor']!.email);
      admin = await tokenFor(api, org.users['admin']!.email);
      // Enrolled with the previous time step's code, so the current one is still unspent.
      adminSecret = base32Decode((await enrollTotp(api, admin, Date.now() - 30_000)).secret);
    });
    after(async () => api.close());

    test('an alert is acknowledged, then resolved with a judgement; each step once, audited', async () => {
      const id = await raise(org.users['doctor']!.id);
      const ack = await post(auditor, id, 'acknowledge');
      assert.equal(ack.statusCode, 200, ack.body);
      const a = ack.json<Alert>();
      assert.equal(a.status, 'acknowledged');
      assert.equal(a.acknowledgedBy, org.users['auditor']!.id);
      assert.ok(a.acknowledgedAt);
      assert.equal((await post(auditor, id, 'acknowledge')).statusCode, 409, 'only an open alert');

      const done = await post(auditor, id, 'resolve', {
        resolution: 'false_positive',
        notes: 'the doctor mistyped a new password',
      });
      assert.equal(done.statusCode, 200, done.body);
      const r = done.json<Alert>();
      assert.equal(r.status, 'resolved');
      assert.equal(r.resolution, 'false_positive');
      assert.equal(r.resolvedBy, org.users['auditor']!.id);
      assert.equal(r.acknowledgedBy, org.users['auditor']!.id, 'the acknowledgement stays');
      const again = await post(auditor, id, 'resolve', { resolution: 'benign' });
      assert.equal(again.statusCode, 409);
      assert.deepEqual(await stored(id), { status: 'resolved', resolution: 'false_positive' });

      const listed = await api.app.inject({
        url: '/api/v1/security-alerts?status=resolved',
        headers: auth(auditor),
      });
      assert.ok(listed.json<{ items: Alert[] }>().items.some((x) => x.id === id && x.notes));
      const events = await api.t.db.asAdmin((tx) =>
        tx.query<{ event_type: string; metadata: { resolution?: string } }>(
          `select event_type, metadata from audit.events where entity_id = $1 order by id`,
          [id],
        ),
      );
      assert.deepEqual(
        events.rows.map((e) => e.event_type),
        ['security_alert.acknowledge', 'security_alert.resolve'],
      );
      assert.equal(events.rows[1]?.metadata.resolution, 'false_positive');
    });

    test('an open alert can be resolved at once', async () => {
      const id = await raise(null);
      const r = await post(auditor, id, 'resolve', { resolution: 'true_positive' });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json<Alert>().acknowledgedBy, null);
    });

    test('refusals change nothing: no permission, own alert, bad judgement, unknown id', async () => {
      const about = await raise(org.users['doctor']!.id);
      assert.equal((await post(doctor, about, 'acknowledge')).statusCode, 403, 'no alert:manage');
      const mine = await raise(org.users['auditor']!.id);
      const own = await post(auditor, mine, 'resolve', { resolution: 'benign' });
      assert.equal(own.statusCode, 403, 'nobody handles an alert about themselves');
      assert.match(own.json<{ detail: string }>().detail, /about themselves/);
      const bad = await post(auditor, about, 'resolve', { resolution: 'whatever' });
      assert.equal(bad.statusCode, 400);
      const long = await post(auditor, about, 'resolve', {
        resolution: 'benign',
        notes: 'x'.repeat(4001),
      });
      assert.equal(long.statusCode, 400);
      const unknown = await post(auditor, '00000000-0000-4000-8000-000000000000', 'acknowledge');
      assert.equal(unknown.statusCode, 404);
      assert.deepEqual(await stored(about), { status: 'open', resolution: null });
      assert.deepEqual(await stored(mine), { status: 'open', resolution: null });
    });

    test('an agent key holding alert:manage and review_task:close handles neither', async () => {
      const agent = await api.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: auth(admin),
        payload: {
          email: `alert-bot-${engine}@example.test`,
          role: 'auditor',
          principalType: 'agent',
        },
      });
      assert.equal(agent.statusCode, 201, agent.body);
      const created = await api.app.inject({
        method: 'POST',
        url: '/api/v1/api-keys',
        headers: auth(admin),
        payload: {
          principalId: agent.json<{ id: string }>().id,
          name: 'alert bot',
          scopes: ['alert:read', 'alert:manage', 'review_task:read', 'review_task:close'],
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
          totpCode: totpCode(adminSecret),
        },
      });
      assert.equal(created.statusCode, 201, created.body);
      const key = created.json<{ apiKey: string }>().apiKey;
      const id = await raise(null);
      const r = await post(key, id, 'resolve', { resolution: 'benign' });
      assert.equal(r.statusCode, 403, r.body);
      assert.deepEqual(await stored(id), { status: 'open', resolution: null });

      const task = await api.t.db.asAdmin(async (tx) => {
        const t = await tx.query<{ id: string }>(
          `insert into ward.review_tasks (organization_id, kind, subject_id, subject_user_id, summary)
           values ($1, 'break_glass_review', gen_random_uuid(), $2, 'emergency access to review')
           returning id`,
          [org.orgId, org.users['doctor']!.id],
        );
        return (t.rows[0] as { id: string }).id;
      });
      const close = await api.app.inject({
        method: 'POST',
        url: `/api/v1/access/review-tasks/${task}/close`,
        headers: auth(key),
        payload: { resolution: 'appropriate' },
      });
      assert.equal(close.statusCode, 403, close.body);
    });

    test('the database keeps the lifecycle forward and the handler honest', async () => {
      const id = await raise(org.users['doctor']!.id);
      assert.equal((await post(auditor, id, 'resolve', { resolution: 'benign' })).statusCode, 200);
      const ctx = {
        orgId: org.orgId,
        userId: org.users['auditor']!.id,
        actorType: 'user' as const,
      };
      const attempt = (sql: string, params: unknown[] = []) =>
        api.t.db
          .withContext(ctx, (tx) => tx.query(sql, [id, ...params]))
          .then(
            () => 'ran',
            () => 'refused',
          );
      assert.equal(
        await attempt(
          `update ward.security_alerts set status = 'open', resolved_by = null, resolved_at = null,
                  resolution = null where id = $1`,
        ),
        'refused',
        'a resolved alert is not reopened',
      );
      assert.equal(
        await attempt(`update ward.security_alerts set notes = 'rewritten' where id = $1`),
        'refused',
        'a resolution is not rewritten',
      );
      // ward_app may write the notes' ciphertext (when resolving), but not change a resolved
      // alert's: the guard refuses it, whatever the bytes (migration 0022).
      assert.equal(
        await attempt(
          `update ward.security_alerts set notes_encrypted = '\\x0100000001'::bytea where id = $1`,
        ),
        'refused',
        'encrypted notes are not written after the resolution either',
      );
      const open = await raise(org.users['doctor']!.id);
      const other = (sql: string, params: unknown[], as = ctx) =>
        api.t.db
          .withContext(as, (tx) => tx.query(sql, [open, ...params]))
          .then(
            () => 'ran',
            () => 'refused',
          );
      assert.equal(
        await other(
          `update ward.security_alerts set status = 'acknowledged', acknowledged_by = $2,
                  acknowledged_at = now() where id = $1`,
          [org.users['admin']!.id],
        ),
        'refused',
        'a request records only its own user as the handler',
      );
      assert.equal(
        await other(
          `update ward.security_alerts set status = 'acknowledged', acknowledged_by = $2,
                  acknowledged_at = now() where id = $1`,
          [org.users['doctor']!.id],
          { ...ctx, userId: org.users['doctor']!.id },
        ),
        'refused',
        'the subject never handles it, even as itself',
      );
      assert.deepEqual(await stored(open), { status: 'open', resolution: null });
    });
  });
}
