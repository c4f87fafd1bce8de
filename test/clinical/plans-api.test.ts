import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// Treatment plans, prescriptions and the medication catalog through the API.
describe('plans and prescriptions API', () => {
  let api: TestApi;
  let doctor: string;
  let nurse: string;
  let caseId: string;

  function call(method: 'GET' | 'POST', url: string, payload?: object, token?: string) {
    return api.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: auth(token ?? doctor, 'TREAT'),
      ...(payload ? { payload: payload as Record<string, unknown> } : {}),
    });
  }

  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Plans', ['doctor', 'nurse']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    nurse = await tokenFor(api, org.users['nurse']!.email);
    const p = await call('POST', '/patients', {
      mrn: 'MRN-P1',
      firstName: 'Pat',
      lastName: 'Synthetic',
      dateOfBirth: '1988-08-08',
    });
    const c = await call('POST', '/cases', {
      patientId: p.json<{ id: string }>().id,
      chiefComplaint: 'Elevated blood pressure',
    });
    caseId = c.json<{ id: string }>().id;
  });
  after(async () => api.close());

  test('a doctor writes a plan and prescribes from the catalog', async () => {
    const meds = await call('GET', '/medications?q=lisin');
    assert.equal(meds.statusCode, 200, meds.body);
    const med = meds.json<{ items: { id: string; rxnormCode: string }[] }>().items[0]!;
    assert.equal(med.rxnormCode, '29046');
    const plan = await call('POST', `/cases/${caseId}/plans`, {
      title: 'Blood pressure control',
      goals: [{ goal: 'BP below 130/80', due: '2027-01-01' }],
      interventions: ['low-sodium diet'],
      schedule: { followUpWeeks: 4 },
    });
    assert.equal(plan.statusCode, 201, plan.body);
    const planId = plan.json<{ id: string; status: string }>().id;
    const rx = await call('POST', `/plans/${planId}/prescriptions`, {
      medicationId: med.id,
      dose: '10 mg',
      route: 'oral',
      frequency: 'once daily',
      startDate: '2026-11-22',
    });
    assert.equal(rx.statusCode, 201, rx.body);
    const read = await call('GET', `/plans/${planId}`);
    assert.equal(read.json<{ prescriptions: unknown[] }>().prescriptions.length, 1);
    const bad = await call('POST', `/plans/${planId}/prescriptions`, {
      medicationId: randomUUID(),
      dose: '10 mg',
      route: 'oral',
      frequency: 'once daily',
      startDate: '2026-11-22',
    });
    assert.equal(bad.statusCode, 404, 'an unknown medication is a missing reference');
    const backwards = await call('POST', `/plans/${planId}/prescriptions`, {
      medicationId: med.id,
      dose: '10 mg',
      route: 'oral',
      frequency: 'once daily',
      startDate: '2026-11-22',
      endDate: '2026-11-01',
    });
    assert.equal(backwards.statusCode, 400);
    // A nurse reads plans but may not prescribe; another tenant sees nothing.
    assert.equal((await call('GET', `/plans/${planId}`, undefined, nurse)).statusCode, 200);
    const denied = await call(
      'POST',
      `/plans/${planId}/prescriptions`,
      {
        medicationId: med.id,
        dose: '5 mg',
        route: 'oral',
        frequency: 'daily',
        startDate: '2026-11-22',
      },
      nurse,
    );
    assert.equal(denied.statusCode, 403);
    const other = await seedOrg(api, 'PlansOther', ['doctor']);
    const stranger = await tokenFor(api, other.users['doctor']!.email);
    assert.equal((await call('GET', `/plans/${planId}`, undefined, stranger)).statusCode, 404);
    assert.equal(
      (await call('POST', `/cases/${caseId}/plans`, { title: 'probe' }, stranger)).statusCode,
      404,
    );
  });
});
