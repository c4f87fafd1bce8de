import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// A care-team condition is a fact only case-scoped routes supply. Written on an action whose
// routes have no care team (patient records, opening a case) it could never match, so a deny
// for non-members would silently let every non-member through: such a policy is refused.
describe('care-team conditions in access policies', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let admin: string;
  let doctor: string;
  let nurse: string;
  let patientId: string;
  let caseId: string;
  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'TeamPolicy', ['admin', 'doctor', 'nurse']);
    admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    nurse = await tokenFor(api, org.users['nurse']!.email);
    const p = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: auth(doctor, 'TREAT'),
      payload: {
        mrn: 'MRN-TP1',
        firstName: 'Team',
        lastName: 'Synthetic',
        dateOfBirth: '1980-02-02',
      },
    });
    assert.equal(p.statusCode, 201, p.body);
    patientId = p.json<{ id: string }>().id;
    const c = await api.app.inject({
      method: 'POST',
      url: '/api/v1/cases',
      headers: auth(doctor, 'TREAT'),
      payload: { patientId, chiefComplaint: 'Persistent cough' },
    });
    assert.equal(c.statusCode, 201, c.body);
    caseId = c.json<{ id: string }>().id;
  });
  after(async () => api.close());

  const createPolicy = (name: string, actions: string[]) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: {
        name,
        document: { effect: 'deny', actions, resource: { careTeam: 'non-member' } },
      },
    });

  test('a care-team deny on patient records or case creation is refused, not silently inert', async () => {
    for (const actions of [['patient:read'], ['patient:*'], ['case:create'], ['claim:read']]) {
      const r = await createPolicy(`team-${actions[0]!.replace(/[:*]/g, '-')}`, actions);
      assert.equal(r.statusCode, 400, `${actions.join()}: ${r.body}`);
      assert.match(r.json<{ detail: string }>().detail, /care team/);
    }
    // Nothing was saved, so nothing pretends to protect the patient: the nurse reads as before.
    const read = await api.app.inject({
      url: `/api/v1/patients/${patientId}`,
      headers: auth(nurse, 'TREAT'),
    });
    assert.equal(read.statusCode, 200);
  });

  test('a care-team deny on case-scoped actions is accepted and enforced', async () => {
    const r = await createPolicy('team-cases', ['case:read', 'diagnosis:*', 'image:*']);
    assert.equal(r.statusCode, 201, r.body);
    const asNurse = await api.app.inject({
      url: `/api/v1/cases/${caseId}`,
      headers: auth(nurse, 'TREAT'),
    });
    assert.equal(asNurse.statusCode, 403);
    const asDoctor = await api.app.inject({
      url: `/api/v1/cases/${caseId}`,
      headers: auth(doctor, 'TREAT'),
    });
    assert.equal(asDoctor.statusCode, 200);
  });
});
