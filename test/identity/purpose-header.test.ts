import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { purposeCodes } from '../../src/modules/access/purposes.ts';
import {
  auth,
  createPatientAs,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// X-Purpose-Of-Use took `treat` for TREAT and `COMPL` for HCOMPL. A purpose of use is recorded
// on every audit event and matched by access policies, so it is exact: one HL7 v3 code as
// published, in upper case; anything else is refused with a code that names the header and a
// body that does not echo what was sent.
describe('the X-Purpose-Of-Use header is exact', () => {
  let api: TestApi;
  let doctor: string;
  let admin: string;
  let patientId: string;
  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Purpose', ['admin', 'doctor']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
    admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin);
    patientId = await createPatientAs(api, doctor, 'MRN-PURPOSE-1');
  });
  after(async () => api.close());

  const read = (purpose: string | string[]) =>
    api.app.inject({
      url: `/api/v1/patients/${patientId}`,
      headers: { ...auth(doctor), 'x-purpose-of-use': purpose },
    });

  test('lower case, aliases, padding, lists and unknown codes are 400 naming the header', async () => {
    const loose = [
      'treat',
      'Treat',
      ' TREAT',
      'COMPL',
      'compl',
      'hcompl',
      'TREAT,TREAT',
      '',
      'COVERAGE',
    ];
    for (const value of loose) {
      const r = await read(value);
      assert.equal(r.statusCode, 400, `${JSON.stringify(value)}: ${r.body}`);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      const p = r.json<{ code: string; title: string; detail?: string }>();
      assert.equal(p.code, 'invalid_purpose_of_use_header');
      assert.match(p.title, /X-Purpose-Of-Use/);
      if (value.trim() !== '') assert.ok(!r.body.includes(value.trim()), `echoes ${value}`);
    }
    // The header twice is not one purpose either.
    const twice = await read(['TREAT', 'TREAT']);
    assert.equal(twice.statusCode, 400);
    assert.equal(twice.json<{ code: string }>().code, 'invalid_purpose_of_use_header');
    assert.equal((await read('TREAT')).statusCode, 200);
  });

  test('every code Ward lists is accepted as written', async () => {
    for (const code of purposeCodes) {
      const r = await api.app.inject({
        url: '/api/v1/auth/me',
        headers: { ...auth(doctor), 'x-purpose-of-use': code },
      });
      assert.equal(r.statusCode, 200, `${code}: ${r.body}`);
    }
  });

  test('grants name their purposes exactly too', async () => {
    const other = await seedOrg(api, 'PurposeB', ['doctor']);
    const grant = (purposes: string[]) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/access/grants',
        headers: auth(admin),
        payload: {
          granteeOrganizationId: other.orgId,
          patientId,
          permissions: ['patient:read'],
          purposes,
          validUntil: new Date(Date.now() + 3_600_000).toISOString(),
          justificationType: 'prior_authorization',
          justificationId: randomUUID(),
        },
      });
    for (const purposes of [['treat'], ['COMPL'], ['TREAT', 'hpaymt']]) {
      const r = await grant(purposes);
      assert.equal(r.statusCode, 400, `${purposes.join(',')}: ${r.body}`);
    }
    const exact = await grant(['TREAT', 'HPAYMT']);
    assert.equal(exact.statusCode, 201, exact.body);
  });
});
