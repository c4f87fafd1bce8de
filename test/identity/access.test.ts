import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { securedRoute, type SecuredDeps } from '../../src/modules/access/secured-route.ts';
import { object, stringList } from '../../src/platform/http/schemas.ts';
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';
import {
  auth,
  countEvents,
  createPatientAs,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// A PHI route as the clinical module will write them, to drive the whole pipeline: it reads
// "patient" data under patient:read, must audit, and reports what the evaluator decided.
function phiProbe(deps: SecuredDeps, opts: { forgetAudit?: boolean } = {}): FastifyPluginAsync {
  return async (app) => {
    securedRoute(app, deps, {
      method: 'GET',
      url: opts.forgetAudit ? '/test/phi-no-audit' : '/test/phi',
      permission: 'patient:read',
      phi: true,
      schema: {
        response: { 200: object({ fields: stringList, breakGlass: { type: 'boolean' } }) },
      },
      handler: async ({ decision, query, authorize, audit }) => {
        // `?patient=` states the target, as a handler does once it has loaded it.
        const patientId = (query as { patient?: string }).patient;
        const d = patientId
          ? authorize({ permission: 'patient:read', resource: { patientId } })
          : decision;
        if (!opts.forgetAudit)
          await audit({ action: 'R', eventType: 'patient.read', phiFields: d.fields });
        return { fields: [...d.fields], breakGlass: d.breakGlass };
      },
    });
  };
}

describe('access decisions through the pipeline', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let admin: string;
  let adminSecret: Buffer;
  /** The auditor's session, MFA enrolled (by the first test). */
  let auditor: string;
  before(async () => {
    api = await createTestApi((deps) => [phiProbe(deps), phiProbe(deps, { forgetAudit: true })]);
    org = await seedOrg(api, 'Access', ['admin', 'doctor', 'nurse', 'auditor', 'reviewer']);
    admin = await tokenFor(api, org.users['admin']!.email);
    // Enroll on the previous time step so the current and next steps stay free for step-ups.
    adminSecret = base32Decode((await enrollTotp(api, admin, Date.now() - 30_000)).secret);
  });
  after(async () => api.close());

  test('purpose of use is required, checked and shapes the fields returned', async () => {
    const doctor = await tokenFor(api, org.users['doctor']!.email);
    const none = await api.app.inject({ url: '/api/v1/test/phi', headers: auth(doctor) });
    assert.equal(none.statusCode, 403);
    assert.match(none.json<{ detail: string }>().detail, /purpose_required/);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/test/phi', headers: auth(doctor, 'MADEUP') }))
        .statusCode,
      400,
    );
    const treat = await api.app.inject({ url: '/api/v1/test/phi', headers: auth(doctor, 'TREAT') });
    assert.equal(treat.statusCode, 200);
    assert.ok(treat.json<{ fields: string[] }>().fields.includes('ssn'));
    const reviewer = await tokenFor(api, org.users['reviewer']!.email);
    const billing = await api.app.inject({
      url: '/api/v1/test/phi',
      headers: auth(reviewer, 'HPAYMT'),
    });
    assert.deepEqual(billing.json<{ fields: string[] }>().fields.sort(), [
      'dateOfBirth',
      'firstName',
      'insurance',
      'lastName',
    ]);
    auditor = await tokenFor(api, org.users['auditor']!.email);
    // Auditors use MFA (they read the audit trail and handle alerts); with it, still no PHI.
    await enrollTotp(api, auditor);
    const noPhi = await api.app.inject({
      url: '/api/v1/test/phi',
      headers: auth(auditor, 'HOPERAT'),
    });
    assert.equal(noPhi.statusCode, 403);
    assert.doesNotMatch(noPhi.body, /mfa/);
  });

  test('a denied request leaves exactly one audit event with its reason', async () => {
    const nurse = await tokenFor(api, org.users['nurse']!.email);
    const before = await countEvents(api, 'access.denied');
    const r = await api.app.inject({ url: '/api/v1/test/phi', headers: auth(nurse, 'HRESCH') });
    assert.equal(r.statusCode, 403);
    assert.equal((await countEvents(api, 'access.denied')) - before, 1);
  });

  test('a PHI route that forgets its audit event fails and leaks nothing', async () => {
    const doctor = await tokenFor(api, org.users['doctor']!.email);
    const r = await api.app.inject({
      url: '/api/v1/test/phi-no-audit',
      headers: auth(doctor, 'TREAT'),
    });
    assert.equal(r.statusCode, 500);
    assert.ok(!r.body.includes('ssn'));
  });

  test('an organization deny policy applies at once, names itself in the audit trail, and can be lifted', async () => {
    const bad = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: { name: 'broken', document: { effect: 'deny' } },
    });
    assert.equal(bad.statusCode, 400);
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: {
        name: 'no-nurse-reads',
        document: { effect: 'deny', actions: ['patient:read'], actor: { roles: ['nurse'] } },
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const nurse = await tokenFor(api, org.users['nurse']!.email);
    const denied = await api.app.inject({ url: '/api/v1/test/phi', headers: auth(nurse, 'TREAT') });
    assert.equal(denied.statusCode, 403);
    assert.match(denied.json<{ detail: string }>().detail, /policy_denied/);
    const ev = await api.t.db.asAdmin((tx) =>
      tx.query<{ m: { policies: string[] } }>(
        "select metadata as m from audit.events where event_type = 'access.denied' and outcome_reason = 'policy_denied' order by id desc limit 1",
      ),
    );
    assert.deepEqual(ev.rows[0]?.m.policies, ['no-nurse-reads']);
    const id = created.json<{ id: string }>().id;
    const read = await api.app.inject({
      url: `/api/v1/access-policies/${id}`,
      headers: auth(admin),
    });
    assert.equal(
      (
        await api.app.inject({
          method: 'PATCH',
          url: `/api/v1/access-policies/${id}`,
          headers: { ...auth(admin), 'if-match': String(read.headers.etag) },
          payload: { enabled: false },
        })
      ).statusCode,
      200,
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/test/phi', headers: auth(nurse, 'TREAT') })).statusCode,
      200,
    );
  });

  test('break-glass opens emergency reads over a deny policy, with alert and review, and expires', async () => {
    await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: {
        name: 'deny-doctors',
        document: { effect: 'deny', actions: ['patient:read'], actor: { roles: ['doctor'] } },
      },
    });
    const doctor = await tokenFor(api, org.users['doctor']!.email);
    const patientId = await createPatientAs(api, doctor, 'MRN-BG-1');
    const probe = `/api/v1/test/phi?patient=${patientId}`;
    assert.equal(
      (await api.app.inject({ url: probe, headers: auth(doctor, 'TREAT') })).statusCode,
      403,
    );
    assert.equal(
      (await api.app.inject({ url: probe, headers: auth(doctor, 'ETREAT') })).statusCode,
      403,
      'ETREAT needs break-glass first',
    );
    const short = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access/break-glass',
      headers: auth(doctor),
      payload: { reason: 'because', patientId },
    });
    assert.equal(short.statusCode, 400);
    const bg = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access/break-glass',
      headers: auth(doctor),
      payload: {
        reason: 'Unconscious patient in ED, allergy history needed now',
        minutes: 10,
        patientId,
      },
    });
    assert.equal(bg.statusCode, 201, bg.body);
    const emergency = await api.app.inject({ url: probe, headers: auth(doctor, 'ETREAT') });
    assert.equal(emergency.statusCode, 200);
    assert.equal(emergency.json<{ breakGlass: boolean }>().breakGlass, true);
    const alerts = await api.app.inject({ url: '/api/v1/security-alerts', headers: auth(admin) });
    assert.ok(
      alerts
        .json<{ items: { kind: string }[] }>()
        .items.some((a) => a.kind === 'access.break_glass'),
    );
    const tasks = await api.app.inject({
      url: '/api/v1/access/review-tasks?status=open',
      headers: auth(auditor),
    });
    const task = tasks
      .json<{ items: { id: string; subjectUserId: string }[] }>()
      .items.find((t) => t.subjectUserId === org.users['doctor']!.id);
    assert.ok(task);
    assert.equal(
      (
        await api.app.inject({
          method: 'POST',
          url: `/api/v1/access/review-tasks/${task.id}/close`,
          headers: auth(doctor),
          payload: { resolution: 'appropriate' },
        })
      ).statusCode,
      403,
    );
    assert.equal(
      (
        await api.app.inject({
          method: 'POST',
          url: `/api/v1/access/review-tasks/${task.id}/close`,
          headers: auth(auditor),
          payload: { resolution: 'appropriate' },
        })
      ).statusCode,
      200,
    );
    // Expiry: move the window into the past; the next request is refused again.
    await api.t.db.asAdmin((tx) =>
      tx.query(
        "update ward.break_glass_sessions set started_at = now() - interval '20 minutes', expires_at = now() - interval '1 second' where user_id = $1",
        [org.users['doctor']!.id],
      ),
    );
    assert.equal(
      (await api.app.inject({ url: probe, headers: auth(doctor, 'ETREAT') })).statusCode,
      403,
    );
  });

  test('API keys act as agents, only within their scopes, until revoked or expired', async () => {
    const agent = await api.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: auth(admin),
      payload: { email: 'triage-bot@example.test', role: 'auditor', principalType: 'agent' },
    });
    assert.equal(agent.statusCode, 201, agent.body);
    const agentId = agent.json<{ id: string }>().id;
    const wide = await api.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: auth(admin),
      payload: {
        principalId: agentId,
        name: 'too wide',
        scopes: ['user:create'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        totpCode: totpCode(adminSecret),
      },
    });
    assert.equal(wide.statusCode, 400, "a key cannot exceed its principal's roles");
    // The failed request rolled back, so its code was not spent and works below.
    const payload = {
      principalId: agentId,
      name: 'reader',
      scopes: ['user:read'],
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    };
    const noCode = await api.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: auth(admin),
      payload,
    });
    assert.equal(noCode.statusCode, 403, 'key creation needs a fresh authenticator code');
    assert.equal(noCode.json<{ code: string }>().code, 'mfa_required');
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: auth(admin),
      payload: { ...payload, totpCode: totpCode(adminSecret) },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { apiKey, key } = created.json<{ apiKey: string; key: { id: string } }>();
    assert.match(apiKey, /^wak_/);

    const users = await api.app.inject({ url: '/api/v1/users', headers: auth(apiKey) });
    assert.equal(users.statusCode, 200);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/api-keys', headers: auth(apiKey) })).statusCode,
      403,
      'outside the key scope',
    );
    const self = await api.app.inject({ url: '/api/v1/auth/me', headers: auth(apiKey) });
    assert.equal(self.statusCode, 403);
    const denial = await api.t.db.asAdmin((tx) =>
      tx.query<{ actor_type: string; actor_id: string }>(
        "select actor_type, actor_id from audit.events where event_type = 'access.denied' order by id desc limit 1",
      ),
    );
    assert.deepEqual(
      denial.rows[0],
      { actor_type: 'agent', actor_id: agentId },
      'agent requests are recorded as agent',
    );

    const expiring = await api.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: auth(admin),
      payload: { ...payload, name: 'short', totpCode: totpCode(adminSecret, Date.now() + 30_000) },
    });
    assert.equal(expiring.statusCode, 201, expiring.body);
    const exp = expiring.json<{ apiKey: string; key: { id: string } }>();
    await api.t.db.asAdmin((tx) =>
      tx.query("update ward.api_keys set expires_at = now() - interval '1 second' where id = $1", [
        exp.key.id,
      ]),
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/users', headers: auth(exp.apiKey) })).statusCode,
      401,
    );

    assert.equal(
      (
        await api.app.inject({
          method: 'DELETE',
          url: `/api/v1/api-keys/${key.id}`,
          headers: auth(admin),
        })
      ).statusCode,
      200,
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/users', headers: auth(apiKey) })).statusCode,
      401,
    );
  });
});
