import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  auth,
  countEvents,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// A replayed create answers with the resource as it is now. It must not become a way around
// the decision the create itself would get today, nor replay a create made on another target.
describe('idempotent replays decide again and are bound to their target', () => {
  let api: TestApi;
  let admin: string;
  let doctor: string;
  let colleagueId: string;
  let caseId: string;
  let otherCaseId: string;

  const call = (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    token: string,
    payload?: object,
    headers: Record<string, string> = {},
  ) =>
    api.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...auth(token, 'TREAT'), ...headers },
      ...(payload ? { payload } : {}),
    });
  const image = { modality: 'CT', contentType: 'image/png', bodyPart: 'CHEST' };

  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Replay', ['admin', 'doctor']);
    admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    const p = await call('POST', '/patients', doctor, {
      mrn: 'MRN-REPLAY1',
      firstName: 'Rhea',
      lastName: 'Synthetic',
      dateOfBirth: '1971-02-03',
    });
    assert.equal(p.statusCode, 201, p.body);
    const patientId = p.json<{ id: string }>().id;
    const open = async () => {
      const c = await call('POST', '/cases', doctor, { patientId, chiefComplaint: 'Headache' });
      assert.equal(c.statusCode, 201, c.body);
      return c.json<{ id: string }>().id;
    };
    caseId = await open();
    otherCaseId = await open();
    // A second clinician of the same organization, to hand the case over to.
    const u = await api.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: auth(admin),
      payload: { email: 'replay.colleague@example.test', role: 'doctor' },
    });
    assert.equal(u.statusCode, 201, u.body);
    colleagueId = u.json<{ id: string }>().id;
    const policy = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: auth(admin),
      payload: {
        name: 'replay-care-team-only',
        document: { effect: 'deny', actions: ['image:*'], resource: { careTeam: 'non-member' } },
      },
    });
    assert.equal(policy.statusCode, 201, policy.body);
  });
  after(() => api.close());

  test('a replay after the caller left the care team is denied, like a read', async () => {
    const key = { 'idempotency-key': 'img-care-team-1' };
    const first = await call('POST', `/cases/${caseId}/images`, doctor, image, key);
    assert.equal(first.statusCode, 201, first.body);
    const imageId = first.json<{ id: string }>().id;

    const handOver = await call('PUT', `/cases/${caseId}/care-team`, doctor, {
      assignedClinicians: [colleagueId],
    });
    assert.equal(handOver.statusCode, 200, handOver.body);
    assert.equal((await call('GET', `/images/${imageId}`, doctor)).statusCode, 403);

    const replayed = await call('POST', `/cases/${caseId}/images`, doctor, image, key);
    assert.equal(replayed.statusCode, 403, `the replay disclosed the image: ${replayed.body}`);
    assert.equal(replayed.json<{ code: string }>().code, 'forbidden');
    assert.doesNotMatch(replayed.body, new RegExp(imageId));
    assert.equal(await countEvents(api, 'image.create_replayed'), 0);
  });

  test('the same key and body on another case is not a replay of the first', async () => {
    const key = { 'idempotency-key': 'img-target-1' };
    const first = await call('POST', `/cases/${otherCaseId}/images`, doctor, image, key);
    assert.equal(first.statusCode, 201, first.body);
    const again = await call('POST', `/cases/${otherCaseId}/images`, doctor, image, key);
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json<{ id: string }>().id, first.json<{ id: string }>().id);

    // A third case the doctor is on: the key stood for a create on otherCaseId.
    const third = await call('POST', '/cases', doctor, {
      patientId: first.json<{ patientId: string }>().patientId,
      chiefComplaint: 'Dizziness',
    });
    assert.equal(third.statusCode, 201, third.body);
    const thirdId = third.json<{ id: string }>().id;
    const elsewhere = await call('POST', `/cases/${thirdId}/images`, doctor, image, key);
    assert.equal(
      elsewhere.statusCode,
      422,
      `a create on another case replayed: ${elsewhere.statusCode} ${elsewhere.body}`,
    );
    assert.equal(elsewhere.json<{ code: string }>().code, 'idempotency_key_reused');
  });
});
