import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pgCode } from '../../src/platform/errors.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// Medical cases through the API: open, read, the status workflow (service and trigger), the
// care team, and another tenant's ids answering exactly like missing ones.
describe('cases API', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let doctor: string;
  let patientId: string;
  let caseId: string;

  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'Cases', ['doctor', 'nurse']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    const p = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: auth(doctor, 'TREAT'),
      payload: {
        mrn: 'MRN-C1',
        firstName: 'Case',
        lastName: 'Synthetic',
        dateOfBirth: '1975-03-03',
      },
    });
    patientId = p.json<{ id: string }>().id;
  });
  after(async () => api.close());

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, token = doctor) =>
    api.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: auth(token, 'TREAT'),
      ...(payload ? { payload: payload as Record<string, unknown> } : {}),
    });

  test('a doctor opens a case; the complaint is returned, stored encrypted, and audited', async () => {
    const r = await call('POST', '/cases', {
      patientId,
      chiefComplaint: 'Throbbing headache for three days',
      priority: 'high',
      symptoms: [{ name: 'headache', severity: 7 }],
      tags: ['neuro'],
    });
    assert.equal(r.statusCode, 201, r.body);
    const c = r.json<{ id: string; chiefComplaint: string; assignedClinicians: string[] }>();
    caseId = c.id;
    assert.equal(c.chiefComplaint, 'Throbbing headache for three days');
    assert.deepEqual(c.assignedClinicians, [org.users['doctor']!.id]);
    const raw = await api.t.db.asAdmin((tx) =>
      tx.query<{ v: Buffer }>(
        'select chief_complaint_encrypted as v from clinical.medical_cases where id = $1',
        [caseId],
      ),
    );
    assert.ok(!raw.rows[0]!.v.toString('latin1').includes('headache'));
    const ev = await api.t.db.asAdmin((tx) =>
      tx.query('select 1 from audit.events where event_type = $1 and patient_id = $2', [
        'case.create',
        patientId,
      ]),
    );
    assert.equal(ev.rowCount, 1);
    assert.equal((await call('GET', `/cases/${caseId}`)).statusCode, 200);
  });

  test('the workflow allows only its transitions, in the service and in the database', async () => {
    const move = (status: string) => call('POST', `/cases/${caseId}/transition`, { status });
    const bad = await move('treatment');
    assert.equal(bad.statusCode, 409);
    assert.match(String(bad.headers['content-type']), /problem\+json/);
    assert.equal((await call('GET', `/cases/${caseId}`)).json<{ status: string }>().status, 'open');
    assert.equal((await move('bogus')).statusCode, 400);
    for (const s of ['in_review', 'diagnosed', 'treatment', 'closed'])
      assert.equal((await move(s)).statusCode, 200, s);
    assert.equal((await move('open')).statusCode, 409, 'closed is final');
    // The trigger refuses what the service would, even for a direct UPDATE.
    await assert.rejects(
      api.t.db.withContext({ orgId: org.orgId, actorType: 'user' }, (tx) =>
        tx.query(
          "update clinical.medical_cases set status = 'open', closed_at = null where id = $1",
          [caseId],
        ),
      ),
      (e: unknown) => pgCode(e) === '23514',
    );
  });

  test('the care team takes only users of the organization', async () => {
    const nurseId = org.users['nurse']!.id;
    const ok = await call('PUT', `/cases/${caseId}/care-team`, {
      assignedClinicians: [org.users['doctor']!.id, nurseId],
    });
    assert.equal(ok.statusCode, 200, ok.body);
    const bad = await call('PUT', `/cases/${caseId}/care-team`, {
      assignedClinicians: [randomUUID()],
    });
    assert.equal(bad.statusCode, 400);
  });

  test("every case route answers another tenant's ids with 404", async () => {
    const other = await seedOrg(api, 'OtherCases', ['doctor']);
    const stranger = await tokenFor(api, other.users['doctor']!.email);
    const probes = [
      await call('GET', `/cases/${caseId}`, undefined, stranger),
      await call('POST', `/cases/${caseId}/transition`, { status: 'closed' }, stranger),
      await call('PUT', `/cases/${caseId}/care-team`, { assignedClinicians: [] }, stranger),
      await call('POST', '/cases', { patientId, chiefComplaint: 'probe' }, stranger),
      await call('GET', `/cases/${randomUUID()}`),
    ];
    for (const r of probes) {
      assert.equal(r.statusCode, 404, r.body);
      assert.ok(!r.body.includes('headache'));
    }
  });
});
