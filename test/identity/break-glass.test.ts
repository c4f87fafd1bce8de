import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { securedRoute, type SecuredDeps } from '../../src/modules/access/secured-route.ts';
import { object } from '../../src/platform/http/schemas.ts';
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

// A clinical read whose handler forgets to state the patient it reads: under break-glass the
// secured route must refuse it rather than let the emergency reach whatever it returned.
function forgetfulRead(deps: SecuredDeps): FastifyPluginAsync {
  return async (app) => {
    securedRoute(app, deps, {
      method: 'GET',
      url: '/test/cases-anywhere',
      permission: 'case:read',
      phi: true,
      schema: { response: { 200: object({ ok: { type: 'boolean' } }) } },
      handler: async ({ audit }) => {
        await audit({ action: 'R', eventType: 'case.list', phiFields: [] });
        return { ok: true };
      },
    });
  };
}

// Hostile break-glass requests: the reason is the emergency's only justification, so it must
// be something a privacy officer can read.
describe('break-glass requests', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let doctor: string;
  let admin: string;
  let patientA: string;
  let patientB: string;
  let caseA: string;
  let caseB: string;
  before(async () => {
    api = await createTestApi((deps) => [forgetfulRead(deps)]);
    org = await seedOrg(api, 'BreakGlass', ['doctor', 'admin']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin); // admins must use MFA before they manage policies
    patientA = await createPatientAs(api, doctor, 'MRN-BG-A');
    patientB = await createPatientAs(api, doctor, 'MRN-BG-B');
    const open = async (patientId: string) => {
      const r = await call('POST', '/cases', 'TREAT', {
        patientId,
        chiefComplaint: 'Collapsed in the waiting room',
        priority: 'urgent',
      });
      assert.equal(r.statusCode, 201, r.body);
      return r.json<{ id: string }>().id;
    };
    caseA = await open(patientA);
    caseB = await open(patientB);
  });
  after(async () => api.close());

  const call = (method: 'GET' | 'POST', url: string, purpose: string, payload?: object) =>
    api.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: auth(doctor, purpose),
      ...(payload ? { payload: payload as Record<string, unknown> } : {}),
    });

  const start = (reason: string, patientId: string = patientA) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/access/break-glass',
      headers: auth(doctor),
      payload: { reason, minutes: 5, patientId },
    });

  const sessions = async () =>
    (
      await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          'select count(*)::int as n from ward.break_glass_sessions where user_id = $1',
          [org.users['doctor']!.id],
        ),
      )
    ).rows[0]?.n ?? 0;

  test('a reason of invisible or control characters is refused, and opens nothing', async () => {
    const hollow = [
      ' '.repeat(25),
      '\u200b'.repeat(20), // zero-width spaces
      '\u2060'.repeat(20), // word joiners
      '\u3164'.repeat(20), // Hangul fillers
      'Patient in ED \u202ekcehc yllaer\u202c, needs history', // a bidi override
      'Unconscious patient\u001b[2J needs history now', // an ANSI escape
    ];
    for (const reason of hollow) {
      const r = await start(reason);
      assert.equal(r.statusCode, 400, JSON.stringify(reason));
      assert.equal(r.json<{ code: string }>().code, 'validation_failed');
    }
    assert.equal(await sessions(), 0);
    const ok = await start('Unconscious patient in ED,\nallergy history needed now');
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(await sessions(), 1);
  });

  test("an emergency session opens the patient it names, never another patient or the organization's lists", async () => {
    // The organization takes clinical reads from doctors; only break-glass reopens them.
    const policy = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: {
        name: 'no-doctor-reads',
        document: {
          effect: 'deny',
          actions: ['patient:read', 'case:read', 'diagnosis:read', 'treatment_plan:read'],
          actor: { roles: ['doctor'] },
        },
      },
    });
    assert.equal(policy.statusCode, 201, policy.body);
    assert.equal((await call('GET', `/patients/${patientA}`, 'TREAT')).statusCode, 403);

    // A session names its patient; one of another organization is not found.
    const unnamed = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access/break-glass',
      headers: auth(doctor),
      payload: { reason: 'Unconscious patient in ED, history needed now', minutes: 5 },
    });
    assert.equal(unnamed.statusCode, 400, unnamed.body);
    const other = await seedOrg(api, 'BreakGlassOther', ['doctor']);
    const foreign = await createPatientAs(
      api,
      await tokenFor(api, other.users['doctor']!.email),
      'MRN-BG-X',
    );
    assert.equal(
      (await start('Unconscious patient in ED, history needed now', foreign)).statusCode,
      404,
    );

    // (the first test left one session for patient A running)
    const again = await start('Still in the ED, the history is needed again');
    assert.equal(again.statusCode, 409, 'no stacking a second session on an active one');

    const denied = (r: Awaited<ReturnType<typeof call>>, reason: string, what: string) => {
      assert.equal(r.statusCode, 403, `${what}: ${r.body}`);
      assert.match(r.json<{ detail: string }>().detail, new RegExp(reason), what);
    };
    // Patient A's record opens...
    assert.equal((await call('GET', `/patients/${patientA}`, 'ETREAT')).statusCode, 200);
    assert.equal((await call('GET', `/cases/${caseA}`, 'ETREAT')).statusCode, 200);
    assert.equal((await call('GET', `/cases/${caseA}/diagnoses`, 'ETREAT')).statusCode, 200);
    const listA = await call('GET', `/cases?patientId=${patientA}`, 'ETREAT');
    assert.equal(listA.statusCode, 200, listA.body);
    assert.deepEqual(
      listA.json<{ items: { id: string }[] }>().items.map((c) => c.id),
      [caseA],
    );
    // ...patient B's does not, in upper case neither...
    const deniedBefore = await countEvents(api, 'access.denied');
    denied(await call('GET', `/patients/${patientB}`, 'ETREAT'), 'break_glass_other_patient', 'B');
    denied(
      await call('GET', `/patients/${patientB.toUpperCase()}`, 'ETREAT'),
      'break_glass_other_patient',
      'B in upper case',
    );
    denied(await call('GET', `/cases/${caseB}`, 'ETREAT'), 'break_glass_other_patient', "B's case");
    denied(
      await call('GET', `/cases/${caseB}/diagnoses`, 'ETREAT'),
      'break_glass_other_patient',
      "B's diagnoses",
    );
    denied(
      await call('GET', `/cases?patientId=${patientB}`, 'ETREAT'),
      'break_glass_other_patient',
      "B's cases",
    );
    // ...nor do the organization's lists, searches, or a handler that never names a patient.
    denied(await call('GET', '/cases', 'ETREAT'), 'break_glass_patient_required', 'all cases');
    denied(
      await call('GET', '/patients', 'ETREAT'),
      'break_glass_patient_required',
      'all patients',
    );
    denied(
      await call('POST', '/patients/search', 'ETREAT', { mrn: 'MRN-BG-B' }),
      'break_glass_patient_required',
      'search',
    );
    denied(
      await call('GET', '/test/cases-anywhere', 'ETREAT'),
      'break_glass_patient_required',
      'a handler that states no patient',
    );
    // Every refusal is on the record.
    assert.equal((await countEvents(api, 'access.denied')) - deniedBefore, 9);
    assert.equal(await countEvents(api, 'case.list', 'break_glass_patient_required'), 0);

    // A second session for B opens B as well, each until its own end.
    assert.equal(
      (await start('Second casualty from the same accident, needs history', patientB)).statusCode,
      201,
    );
    assert.equal((await call('GET', `/cases/${caseB}`, 'ETREAT')).statusCode, 200);
    await api.t.db.asAdmin((tx) =>
      tx.query(
        "update ward.break_glass_sessions set started_at = now() - interval '20 minutes', expires_at = now() - interval '1 second' where patient_id = $1",
        [patientA],
      ),
    );
    denied(
      await call('GET', `/patients/${patientA}`, 'ETREAT'),
      'break_glass_other_patient',
      'A ended',
    );
    assert.equal((await call('GET', `/patients/${patientB}`, 'ETREAT')).statusCode, 200);
  });
});
