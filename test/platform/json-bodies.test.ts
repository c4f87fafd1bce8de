import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertProblem, hostileApi, hostilePatient as patient } from '../helpers/hostile.ts';

// The hostile review's body reproductions through the real API: NUL in any string was a 500
// (or stored encrypted), deep nesting a 500, a duplicate key silently won.
describe('JSON bodies under the body scanner', () => {
  let h: Awaited<ReturnType<typeof hostileApi>>;
  before(async () => {
    h = await hostileApi();
  });
  after(() => h.api.close());

  test('NUL in any JSON string is a 400 validation_failed before a handler runs', async () => {
    const before = await h.patientCount();
    const cases: [string, string, string | undefined, string][] = [
      ['POST', '/auth/login', undefined, '{"email":"a\\u0000@example.test","password":"x"}'],
      ['POST', '/patients', h.doctor, JSON.stringify({ ...patient, vitals: { note: 'a\0b' } })],
      ['POST', '/patients', h.doctor, JSON.stringify({ ...patient, ssn: '900-55-\u00000001' })],
      ['POST', '/patients', h.doctor, JSON.stringify({ ...patient, firstName: 'Ro\0wan' })],
      ['POST', '/users', h.admin, JSON.stringify({ email: 'n\0ul@example.test', role: 'nurse' })],
      [
        'POST',
        '/users',
        h.admin,
        JSON.stringify({ email: 'nul@example.test', role: 'nurse', displayName: '\0' }),
      ],
      [
        'POST',
        '/access-policies',
        h.admin,
        JSON.stringify({
          name: 'nul-policy',
          description: 'x\0',
          document: { effect: 'deny', actions: ['x:read'], actor: { roles: ['nurse'] } },
        }),
      ],
      [
        'POST',
        '/access/break-glass',
        h.doctor,
        JSON.stringify({
          reason: 'Unconscious patient in ED, history needed \0 now',
          patientId: '6c1d4f0e-2b7a-4c39-9e51-0f3a8d2b7c64',
        }),
      ],
      // A key, too, and the escape in any position.
      ['POST', '/patients', h.doctor, `{"mrn\\u0000":"A"}`],
    ];
    for (const [method, url, token, payload] of cases) {
      assertProblem(
        await h.send(method, url, token, payload),
        'validation_failed',
        `${url} ${payload}`,
      );
    }
    assert.equal(await h.patientCount(), before, 'nothing was stored');
  });

  test('a prescription frequency with NUL is refused', async () => {
    const meds = await h.send('GET', '/medications?q=lisin', h.doctor);
    const med = meds.json<{ items: { id: string }[] }>().items[0]!;
    const plan = await h.send(
      'POST',
      `/cases/${h.caseId}/plans`,
      h.doctor,
      JSON.stringify({ title: 'Plan', goals: [], interventions: [], schedule: {} }),
    );
    assert.equal(plan.statusCode, 201, plan.body);
    const planId = plan.json<{ id: string }>().id;
    const rx = await h.send(
      'POST',
      `/plans/${planId}/prescriptions`,
      h.doctor,
      JSON.stringify({
        medicationId: med.id,
        dose: '10 mg',
        route: 'oral',
        frequency: 'once\0daily',
        startDate: '2026-11-22',
      }),
    );
    assertProblem(rx, 'validation_failed', 'frequency');
  });

  test('JSON nested deeper than 32 levels is refused, however deep', async () => {
    for (const n of [33, 5_000, 100_000]) {
      const deep = '['.repeat(n) + ']'.repeat(n);
      const body = JSON.stringify({ ...patient, mrn: `MRN-DEEP-${n}`, allergies: 'DEEP' });
      const r = await h.send('POST', '/patients', h.doctor, body.replace('"DEEP"', deep));
      assertProblem(r, 'validation_failed', `depth ${n}`);
    }
  });

  test('a duplicate key at any depth is refused, and nothing is created', async () => {
    const before = await h.patientCount();
    const body = JSON.stringify({ ...patient, mrn: 'MRN-HOSTILE-A' });
    for (const payload of [
      `${body.slice(0, -1)},"mrn":"dup"}`,
      `${body.slice(0, -1)},"\\u006drn":"dup"}`,
      body.replace('"heartRate":70', '"heartRate":70,"heartRate":200'),
    ]) {
      assertProblem(
        await h.send('POST', '/patients', h.doctor, payload),
        'validation_failed',
        payload,
      );
    }
    assert.equal(await h.patientCount(), before);
    // Prototype poisoning is still refused.
    assertProblem(
      await h.send('POST', '/patients', h.doctor, '{"mrn":"A","__proto__":{"admin":true}}'),
      'validation_failed',
      '__proto__',
    );
  });
});
