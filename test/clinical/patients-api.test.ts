import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  auth,
  countEvents,
  createTestApi,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// The patient core contract end to end through `inject`: create → read per role → search by
// every identifier → conditional update → the audit trail, and the denied paths of each.
const patient = {
  mrn: 'MRN-000123',
  firstName: 'Avery',
  lastName: 'Quill-Synthetic',
  dateOfBirth: '1980-02-29',
  ssn: '900-12-3456',
  email: 'avery.quill@example.test',
  phone: '(555) 010-0123',
  address: { line1: '1 Synthetic Way', city: 'Testville', state: 'TS', postalCode: '00000' },
  emergencyContact: { name: 'Sam Quill', relationship: 'sibling', phone: '555-010-0199' },
  insurance: { payer: 'Example Mutual', memberId: 'EXM-0001' },
  allergies: [{ substance: 'penicillin', reaction: 'rash' }],
  vitals: { heartRate: 72 },
  conditions: ['I10'],
};

interface Problem {
  code: string;
  status: number;
}

describe('patients API', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let doctor: string;
  let nurse: string;
  let reviewer: string;
  let id: string;
  let created: Record<string, unknown>;

  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'Clinic', ['doctor', 'nurse', 'reviewer']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    nurse = await tokenFor(api, org.users['nurse']!.email);
    reviewer = await tokenFor(api, org.users['reviewer']!.email);
  });
  after(async () => api.close());

  const get = (token: string, purpose: string, pid = id) =>
    api.app.inject({ url: `/api/v1/patients/${pid}`, headers: auth(token, purpose) });
  const search = (token: string, purpose: string, payload: unknown) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/patients/search',
      headers: auth(token, purpose),
      payload: payload as Record<string, unknown>,
    });
  const events = async (eventType: string, patientId: string) =>
    (
      await api.t.db.asAdmin((tx) =>
        tx.query<{ phi_fields: string[]; patient_id: string | null; metadata: unknown }>(
          `select phi_fields, patient_id, metadata from audit.events
            where event_type = $1 and patient_id = $2 order by id`,
          [eventType, patientId],
        ),
      )
    ).rows;

  test('a doctor registers a patient and gets every field back, with an ETag', async () => {
    const r = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: auth(doctor, 'TREAT'),
      payload: patient,
    });
    assert.equal(r.statusCode, 201, r.body);
    const body = r.json<Record<string, unknown>>();
    created = body;
    id = body['id'] as string;
    assert.equal(body['ssn'], patient.ssn);
    assert.deepEqual(body['address'], patient.address);
    assert.deepEqual(body['allergies'], patient.allergies);
    assert.equal(body['version'], 1);
    assert.equal(r.headers.etag, '"1"');
    const audited = await events('patient.create', id);
    assert.equal(audited.length, 1);
    assert.ok(audited[0]!.phi_fields.includes('ssn'));
  });

  test('reads return only the fields the role may see for the purpose', async () => {
    const d = await get(doctor, 'TREAT');
    assert.equal(d.statusCode, 200);
    assert.equal(d.json<{ ssn: string }>().ssn, patient.ssn);
    // The create's response is built from the plaintext it sealed; a read decrypts the row.
    assert.deepEqual(d.json(), created, 'the create returned exactly what a read returns');
    assert.equal(d.headers.etag, '"1"');

    const n = (await get(nurse, 'TREAT')).json<Record<string, unknown>>();
    assert.equal(n['firstName'], patient.firstName);
    assert.ok(!('ssn' in n), 'a nurse never sees the SSN');

    const rv = await get(reviewer, 'HPAYMT');
    assert.equal(rv.statusCode, 200);
    assert.deepEqual(Object.keys(rv.json<object>()).sort(), [
      'createdAt',
      'dateOfBirth',
      'dateOfDeath',
      'firstName',
      'id',
      'insurance',
      'lastName',
      'mrn',
      'riskCategory',
      'status',
      'updatedAt',
      'version',
    ]);

    const reads = await events('patient.read', id);
    assert.equal(reads.length, 3, 'one audit event per read');
    assert.ok(reads[0]!.phi_fields.includes('ssn'));
    assert.ok(!reads[1]!.phi_fields.includes('ssn'));
    assert.deepEqual([...reads[2]!.phi_fields].sort(), [
      'dateOfBirth',
      'firstName',
      'insurance',
      'lastName',
    ]);
  });

  test('a sparse patient with unusual text reads back exactly as the create returned it', async () => {
    const sparse = {
      mrn: 'MRN-000124',
      firstName: 'Zoë 🩺 "quoted" \\ back\tslash',
      lastName: 'Ñúñez-Ōtsuka',
      dateOfBirth: '1999-12-31',
      address: { line1: 'Ünit 4 — “Annex”', city: 'São Paulo', state: 'SP', postalCode: '01000' },
      vitals: { heartRate: 61, notes: { nested: [1, 2.5, null, { k: 'v' }] } },
    };
    const r = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: auth(doctor, 'TREAT'),
      payload: sparse,
    });
    assert.equal(r.statusCode, 201, r.body);
    const body = r.json<Record<string, unknown>>();
    assert.equal(body['ssn'], null);
    assert.equal(body['firstName'], sparse.firstName);
    const read = await get(doctor, 'TREAT', body['id'] as string);
    assert.equal(read.statusCode, 200);
    assert.deepEqual(read.json(), body);
  });

  test('a read without a purpose, or with one the role lacks, is denied', async () => {
    const none = await api.app.inject({ url: `/api/v1/patients/${id}`, headers: auth(doctor) });
    assert.equal(none.statusCode, 403);
    assert.equal((await get(doctor, 'HOPERAT')).statusCode, 403);
    // A payment reviewer reading for treatment sees no PHI fields and nothing clinical.
    const rt = (await get(reviewer, 'TREAT')).json<Record<string, unknown>>();
    assert.ok(!('firstName' in rt) && !('allergies' in rt) && !('ssn' in rt));
  });

  test('search finds the patient by each identifier, written differently', async () => {
    const keys = [
      { mrn: patient.mrn },
      { ssn: '900123456' },
      { email: '  AVERY.QUILL@example.TEST' },
      { phone: '+1 555 010 0123' },
      { lastName: 'quill-synthetic', dateOfBirth: patient.dateOfBirth },
    ];
    for (const key of keys) {
      const r = await search(doctor, 'TREAT', key);
      assert.equal(r.statusCode, 200, `${Object.keys(key).join('+')}: ${r.body}`);
      assert.deepEqual(
        r.json<{ items: { id: string }[] }>().items.map((x) => x.id),
        [id],
        Object.keys(key).join('+'),
      );
    }
    const miss = await search(doctor, 'TREAT', { ssn: '900-99-9999' });
    assert.deepEqual(miss.json<{ items: unknown[] }>().items, []);
    const audited = await events('patient.search', id);
    assert.equal(audited.length, keys.length);
  });

  test('no inference oracle: a caller may not search by a field it may not see', async () => {
    const before = await countEvents(api, 'access.denied', 'field_not_permitted');
    const r = await search(nurse, 'TREAT', { ssn: patient.ssn });
    assert.equal(r.statusCode, 403);
    const miss = await search(nurse, 'TREAT', { ssn: '900-00-0000' });
    assert.equal(miss.statusCode, 403, 'the answer does not depend on whether it matches');
    assert.equal(await countEvents(api, 'access.denied', 'field_not_permitted'), before + 2);
    assert.equal((await search(reviewer, 'HPAYMT', { email: patient.email })).statusCode, 403);
    const byName = await search(reviewer, 'HPAYMT', {
      lastName: patient.lastName,
      dateOfBirth: patient.dateOfBirth,
    });
    assert.equal(byName.statusCode, 200);
    assert.ok(!('ssn' in byName.json<{ items: object[] }>().items[0]!));
  });

  test('search takes exactly one identifier', async () => {
    for (const bad of [
      {},
      { mrn: patient.mrn, ssn: patient.ssn },
      { lastName: patient.lastName },
      { dateOfBirth: patient.dateOfBirth },
      { name: 'x' },
    ]) {
      const r = await search(doctor, 'TREAT', bad);
      assert.equal(r.statusCode, 400, JSON.stringify(bad));
      assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
    }
  });

  test('updates are conditional: 428 without If-Match, 412 when stale, nothing lost', async () => {
    const patch = (payload: unknown, ifMatch?: string) =>
      api.app.inject({
        method: 'PATCH',
        url: `/api/v1/patients/${id}`,
        headers: { ...auth(doctor, 'TREAT'), ...(ifMatch ? { 'if-match': ifMatch } : {}) },
        payload: payload as Record<string, unknown>,
      });
    assert.equal((await patch({ phone: '555-010-0150' })).statusCode, 428);
    const ok = await patch({ phone: '555-010-0150', vitals: { heartRate: 80 } }, '"1"');
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.headers.etag, '"2"');
    const stale = await patch({ phone: '555-010-0177' }, '"1"');
    assert.equal(stale.statusCode, 412);
    assert.equal(stale.json<Problem>().code, 'precondition_failed');
    const now = (await get(doctor, 'TREAT')).json<Record<string, unknown>>();
    assert.equal(now['phone'], '555-010-0150', 'the stale write changed nothing');
    assert.deepEqual(now['vitals'], { heartRate: 80 });
    assert.equal(now['version'], 2);
    // The blind index followed the change: the old number no longer finds the patient.
    const old = await search(doctor, 'TREAT', { phone: patient.phone });
    assert.deepEqual(old.json<{ items: unknown[] }>().items, []);
    const found = await search(doctor, 'TREAT', { phone: '555 010 0150' });
    assert.equal(found.json<{ items: unknown[] }>().items.length, 1);
    // Changing the last name moves the name + birth date index too.
    assert.equal((await patch({ lastName: 'Quillon-Synthetic' }, '"2"')).statusCode, 200);
    const renamed = await search(doctor, 'TREAT', {
      lastName: 'Quillon-Synthetic',
      dateOfBirth: patient.dateOfBirth,
    });
    assert.equal(renamed.json<{ items: unknown[] }>().items.length, 1);
    const updates = await events('patient.update', id);
    assert.equal(updates.length, 2);
    // A nurse may not write a field it may not see.
    const nurseSsn = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/patients/${id}`,
      headers: { ...auth(nurse, 'TREAT'), 'if-match': '"3"' },
      payload: { ssn: '900-00-1111' },
    });
    assert.equal(nurseSsn.statusCode, 403);
  });

  test('a date of death is never in the future nor before the date of birth', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: auth(doctor, 'TREAT'),
      payload: {
        mrn: 'MRN-000125',
        firstName: 'Lee',
        lastName: 'Mortal',
        dateOfBirth: '1990-06-15',
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const pid = created.json<{ id: string }>().id;
    let version = 1;
    const patch = (payload: Record<string, unknown>) =>
      api.app.inject({
        method: 'PATCH',
        url: `/api/v1/patients/${pid}`,
        headers: { ...auth(doctor, 'TREAT'), 'if-match': `"${version}"` },
        payload,
      });
    for (const bad of [
      { dateOfDeath: '1980-01-01', status: 'deceased' },
      { dateOfDeath: '2999-01-01', status: 'deceased' },
      { dateOfDeath: '1990-06-14', status: 'deceased' },
      { dateOfBirth: '2000-01-01', dateOfDeath: '1999-12-31', status: 'deceased' },
    ]) {
      const r = await patch(bad);
      assert.equal(r.statusCode, 400, JSON.stringify(bad));
      assert.equal(r.json<Problem>().code, 'validation_failed');
    }
    const noStatus = await patch({ dateOfDeath: '2020-03-01' });
    assert.equal(noStatus.statusCode, 400);
    assert.match(noStatus.json<{ detail: string }>().detail, /deceased/);
    const died = await patch({ dateOfDeath: '2020-03-01', status: 'deceased' });
    assert.equal(died.statusCode, 200, died.body);
    version = 2;
    // The stored date of death now bounds a new date of birth.
    const later = await patch({ dateOfBirth: '2021-01-01' });
    assert.equal(later.statusCode, 400, later.body);
    const read = (await get(doctor, 'TREAT', pid)).json<Record<string, unknown>>();
    assert.equal(read['dateOfBirth'], '1990-06-15');
    assert.equal(read['dateOfDeath'], '2020-03-01');
    assert.equal(read['version'], 2);
  });

  test('a caller who may not see the date of birth learns nothing of it from a date of death', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: auth(doctor, 'TREAT'),
      payload: {
        mrn: 'MRN-000126',
        firstName: 'Kai',
        lastName: 'Hidden',
        dateOfBirth: '1990-06-15',
      },
    });
    const pid = created.json<{ id: string }>().id;
    const view = await get(nurse, 'HPAYMT', pid);
    assert.equal(view.statusCode, 200, view.body);
    assert.ok(!('dateOfBirth' in view.json<object>()), 'the date of birth is hidden here');
    const patch = (dateOfDeath: string, version: number) =>
      api.app.inject({
        method: 'PATCH',
        url: `/api/v1/patients/${pid}`,
        headers: { ...auth(nurse, 'HPAYMT'), 'if-match': `"${version}"` },
        payload: { status: 'deceased', dateOfDeath },
      });
    // Before and after the hidden date answer alike: no comparison with what is not visible.
    const before = await patch('1979-01-01', 1);
    const after = await patch('2001-01-01', 2);
    assert.equal(before.statusCode, after.statusCode, `${before.body} / ${after.body}`);
    assert.doesNotMatch(before.body + after.body, /dateOfBirth/);
  });

  test('HEAD on a PHI route is not served: nothing is decrypted or recorded for a body never sent', async () => {
    const before = await countEvents(api, 'patient.read');
    const head = await api.app.inject({
      method: 'HEAD',
      url: `/api/v1/patients/${id}`,
      headers: auth(doctor, 'TREAT'),
    });
    assert.equal(head.statusCode, 404);
    assert.equal(await countEvents(api, 'patient.read'), before);
  });

  test('bad input is a problem+json 4xx and creates nothing', async () => {
    const count = async () =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number }>('select count(*)::int as n from clinical.patients'),
        )
      ).rows[0]!.n;
    const before = await count();
    const post = (payload: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: { ...auth(doctor, 'TREAT'), 'content-type': 'application/json' },
        payload,
      });
    const cases = [
      '{"mrn": "X1", ',
      JSON.stringify({ ...patient, mrn: 'MRN-2', favouriteColour: 'blue' }),
      JSON.stringify({ ...patient, mrn: 'MRN-3', dateOfBirth: '1981-02-29' }),
      JSON.stringify({ ...patient, mrn: 'MRN-4', ssn: '12-34' }),
      JSON.stringify({ ...patient, mrn: 'MRN-5', address: { line1: 'x', planet: 'Mars' } }),
      JSON.stringify({ ...patient }),
    ];
    for (const payload of cases) {
      const r = await post(payload);
      assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode}: ${payload}`);
      assert.match(String(r.headers['content-type']), /application\/problem\+json/);
      assert.ok(!r.body.includes('900-12-3456'), 'errors never echo PHI');
    }
    assert.equal(await count(), before);
  });

  test("another tenant's patient is indistinguishable from a missing one", async () => {
    const other = await seedOrg(api, 'Other', ['doctor']);
    const stranger = await tokenFor(api, other.users['doctor']!.email);
    assert.equal((await get(stranger, 'TREAT')).statusCode, 404);
    assert.equal((await get(stranger, 'TREAT', crypto.randomUUID())).statusCode, 404);
    const s = await search(stranger, 'TREAT', { mrn: patient.mrn });
    assert.deepEqual(s.json<{ items: unknown[] }>().items, []);
    const p = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/patients/${id}`,
      headers: { ...auth(stranger, 'TREAT'), 'if-match': '"3"' },
      payload: { vitals: {} },
    });
    assert.equal(p.statusCode, 404);
  });
});
