import assert from 'node:assert/strict';
import { auth, createTestApi, enrollTotp, seedOrg, tokenFor, type TestApi } from './api.ts';

/** A problem document as tests read it. */
export interface Problem {
  code: string;
  status: number;
  detail?: string;
}

/** A patient body that passes validation (tests make it hostile one field at a time). */
export const hostilePatient = {
  mrn: 'MRN-HOSTILE-1',
  firstName: 'Rowan',
  lastName: 'Hostile-Synthetic',
  dateOfBirth: '1979-03-14',
  ssn: '900-55-0001',
  allergies: [{ substance: 'latex', reaction: 'hives' }],
  vitals: { heartRate: 70 },
};

/** The full API with an admin and an auditor (MFA enrolled), a doctor, a patient and a case. */
export async function hostileApi() {
  const api: TestApi = await createTestApi();
  const org = await seedOrg(api, 'Hostile', ['admin', 'doctor', 'auditor']);
  const admin = await tokenFor(api, org.users['admin']!.email);
  const doctor = await tokenFor(api, org.users['doctor']!.email);
  const auditor = await tokenFor(api, org.users['auditor']!.email);
  await enrollTotp(api, admin);
  // Auditors read the audit trail and handle alerts: they use MFA too.
  await enrollTotp(api, auditor);
  const p = await api.app.inject({
    method: 'POST',
    url: '/api/v1/patients',
    headers: auth(doctor, 'TREAT'),
    payload: { ...hostilePatient, mrn: 'MRN-HOSTILE-0' },
  });
  assert.equal(p.statusCode, 201, p.body);
  const c = await api.app.inject({
    method: 'POST',
    url: '/api/v1/cases',
    headers: auth(doctor, 'TREAT'),
    payload: { patientId: p.json<{ id: string }>().id, chiefComplaint: 'Headache' },
  });
  assert.equal(c.statusCode, 201, c.body);
  const caseId = c.json<{ id: string }>().id;
  /** Sends `payload` as raw JSON text (so it can be anything) with purpose TREAT. */
  const send = (method: string, url: string, token: string | undefined, payload?: string) =>
    api.app.inject({
      method: method as 'POST',
      url: `/api/v1${url}`,
      headers: {
        ...(token ? auth(token, 'TREAT') : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(payload !== undefined ? { payload } : {}),
    });
  const patientCount = async () =>
    (
      await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from clinical.patients'),
      )
    ).rows[0]?.n;
  return { api, admin, doctor, auditor, caseId, send, patientCount };
}

/** Asserts a 400 problem+json with `code`. */
export function assertProblem(
  r: { statusCode: number; headers: Record<string, unknown>; json: <T>() => T },
  code: string,
  what: string,
): void {
  assert.equal(r.statusCode, 400, `${what}: ${r.statusCode}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/, what);
  assert.equal(r.json<Problem>().code, code, what);
}
