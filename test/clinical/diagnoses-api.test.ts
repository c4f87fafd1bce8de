import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// Diagnoses through the API: ICD-10-CM validation, the AI suggestion path, decisions (once,
// with reasons where required), and the denied and cross-tenant paths.
describe('diagnoses API', () => {
  let api: TestApi;
  let doctor: string;
  let nurse: string;
  let caseId: string;

  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Dx', ['doctor', 'nurse']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    nurse = await tokenFor(api, org.users['nurse']!.email);
    const p = await call('POST', '/patients', {
      mrn: 'MRN-D1',
      firstName: 'Dana',
      lastName: 'Synthetic',
      dateOfBirth: '1969-07-20',
    });
    const c = await call('POST', '/cases', {
      patientId: p.json<{ id: string }>().id,
      chiefComplaint: 'Recurring one-sided headaches',
    });
    caseId = c.json<{ id: string }>().id;
  });
  after(async () => api.close());

  function call(method: 'GET' | 'POST', url: string, payload?: object, token?: string) {
    return api.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: auth(token ?? doctor, 'TREAT'),
      ...(payload ? { payload: payload as Record<string, unknown> } : {}),
    });
  }
  const count = async () =>
    (
      await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from clinical.diagnoses'),
      )
    ).rows[0]!.n;

  test('an AI suggestion carries its model and confidence and waits for a clinician', async () => {
    const r = await call('POST', `/cases/${caseId}/diagnoses`, {
      icd10Code: 'g43.909',
      source: 'ai',
      modelId: 'neuraxis-dx',
      modelVersion: '2.3.1',
      confidence: 0.87,
      evidence: { features: ['unilateral', 'photophobia'] },
    });
    assert.equal(r.statusCode, 201, r.body);
    const d = r.json<{ id: string; status: string; icd10Code: string; confidence: number }>();
    assert.equal(d.status, 'suggested');
    assert.equal(d.icd10Code, 'G43.909');
    assert.equal(d.confidence, 0.87);
    const confirmed = await call('POST', `/diagnoses/${d.id}/decision`, { decision: 'confirm' });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    assert.equal(confirmed.json<{ status: string }>().status, 'confirmed');
    const again = await call('POST', `/diagnoses/${d.id}/decision`, {
      decision: 'reject',
      reason: 'second thoughts',
    });
    assert.equal(again.statusCode, 409, 'a decision is final');
  });

  test('reject and revise need a reason; revise records the replacement code', async () => {
    const suggest = async () =>
      (
        await call('POST', `/cases/${caseId}/diagnoses`, {
          icd10Code: 'R51.9',
          source: 'ai',
          modelId: 'neuraxis-dx',
          modelVersion: '2.3.1',
          confidence: 0.4,
        })
      ).json<{ id: string }>().id;
    const a = await suggest();
    assert.equal(
      (await call('POST', `/diagnoses/${a}/decision`, { decision: 'reject' })).statusCode,
      400,
    );
    const rejected = await call('POST', `/diagnoses/${a}/decision`, {
      decision: 'reject',
      reason: 'Pattern fits migraine better',
    });
    assert.equal(rejected.json<{ status: string }>().status, 'rejected');
    const b = await suggest();
    const revised = await call('POST', `/diagnoses/${b}/decision`, {
      decision: 'revise',
      reason: 'Tension type on examination',
      icd10Code: 'G44.209',
    });
    assert.equal(revised.statusCode, 200, revised.body);
    const rv = revised.json<{ status: string; revisedTo: string }>();
    assert.equal(rv.status, 'revised');
    const list = (await call('GET', `/cases/${caseId}/diagnoses`)).json<{
      items: { id: string; icd10Code: string; status: string }[];
    }>().items;
    assert.deepEqual(
      list.find((x) => x.id === rv.revisedTo),
      { ...list.find((x) => x.id === rv.revisedTo), icd10Code: 'G44.209', status: 'confirmed' },
    );
  });

  test('invalid codes, incomplete AI suggestions and unknown fields change nothing', async () => {
    const before = await count();
    for (const payload of [
      { icd10Code: 'ZZZ.999', source: 'clinician' },
      { icd10Code: 'I10', source: 'ai', modelId: 'm' },
      { icd10Code: 'I10', source: 'ai', modelId: 'm', modelVersion: '1', confidence: 1.5 },
      { icd10Code: 'I10', source: 'clinician', severity: 'high' },
    ]) {
      const r = await call('POST', `/cases/${caseId}/diagnoses`, payload);
      assert.equal(r.statusCode, 400, JSON.stringify(payload));
      assert.match(String(r.headers['content-type']), /problem\+json/);
    }
    assert.equal(await count(), before);
  });

  test('a nurse may read but not record diagnoses; another tenant gets 404', async () => {
    assert.equal(
      (await call('GET', `/cases/${caseId}/diagnoses`, undefined, nurse)).statusCode,
      200,
    );
    const denied = await call(
      'POST',
      `/cases/${caseId}/diagnoses`,
      { icd10Code: 'I10', source: 'clinician' },
      nurse,
    );
    assert.equal(denied.statusCode, 403);
    const other = await seedOrg(api, 'DxOther', ['doctor']);
    const stranger = await tokenFor(api, other.users['doctor']!.email);
    const list = await call('GET', `/cases/${caseId}/diagnoses`, undefined, stranger);
    assert.equal(list.statusCode, 404);
    const own = (await call('GET', `/cases/${caseId}/diagnoses`)).json<{
      items: { id: string }[];
    }>();
    const probe = await call(
      'POST',
      `/diagnoses/${own.items[0]!.id}/decision`,
      { decision: 'confirm' },
      stranger,
    );
    assert.equal(probe.statusCode, 404);
    const create = await call(
      'POST',
      `/cases/${caseId}/diagnoses`,
      { icd10Code: 'I10', source: 'clinician' },
      stranger,
    );
    assert.equal(create.statusCode, 404);
  });
});
