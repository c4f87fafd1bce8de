import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../../src/modules/tenancy/service.ts';
import {
  auth,
  createTestApi,
  goodPassword,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// A care team is people who treat the patient: active human users of the organization. A
// disabled, locked or pending account, an agent or service account, another organization's
// user and an unknown id are refused alike (400 validation_failed, one message for all, so
// another tenant's user ids cannot be told from missing ones), when opening a case as when
// replacing its team, and the team is left as it was.
for (const engine of availableEngines()) {
  describe(`care-team members are active people of the organization (${engine})`, () => {
    let api: TestApi;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    let doctor: string;
    let patientId: string;
    let caseId: string;
    const refused: Record<string, string> = {};

    before(async () => {
      api = await createTestApi(undefined, engine);
      org = await seedOrg(api, 'Team', ['doctor', 'nurse']);
      doctor = await tokenFor(api, org.users['doctor']!.email);
      const p = await call('POST', '/patients', {
        mrn: 'MRN-TEAM-1',
        firstName: 'Team',
        lastName: 'Synthetic',
        dateOfBirth: '1970-01-01',
      });
      assert.equal(p.statusCode, 201, p.body);
      patientId = p.json<{ id: string }>().id;
      const c = await call('POST', '/cases', { patientId, chiefComplaint: 'Synthetic cough' });
      assert.equal(c.statusCode, 201, c.body);
      caseId = c.json<{ id: string }>().id;

      for (const status of ['disabled', 'locked', 'pending'] as const) {
        const u = await createUser(api.t.db, {
          orgId: org.orgId,
          email: `${status}.team@example.test`,
          role: 'nurse',
          password: goodPassword,
        });
        await api.t.db.asAdmin((tx) =>
          tx.query(`update ward.users set status = $2::ward.user_status where id = $1`, [
            u.id,
            status,
          ]),
        );
        refused[status] = u.id;
      }
      for (const principalType of ['agent', 'service'] as const) {
        const u = await createUser(api.t.db, {
          orgId: org.orgId,
          email: `${principalType}.team@example.test`,
          role: 'nurse',
          principalType,
        });
        refused[principalType] = u.id;
      }
      const other = await seedOrg(api, 'OtherTeam', ['doctor']);
      refused['another organization'] = other.users['doctor']!.id;
      refused['unknown'] = randomUUID();
    });
    after(async () => api.close());

    function call(method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) {
      return api.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: auth(doctor, 'TREAT'),
        ...(payload ? { payload: payload as Record<string, unknown> } : {}),
      });
    }

    test('replacing the team refuses anyone but active people of the organization', async () => {
      const team = [org.users['doctor']!.id, org.users['nurse']!.id];
      const ok = await call('PUT', `/cases/${caseId}/care-team`, { assignedClinicians: team });
      assert.equal(ok.statusCode, 200, ok.body);
      const details = new Set<string>();
      for (const [what, id] of Object.entries(refused)) {
        const r = await call('PUT', `/cases/${caseId}/care-team`, {
          assignedClinicians: [org.users['doctor']!.id, id],
        });
        assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
        assert.equal(r.json<{ code: string }>().code, 'validation_failed', what);
        details.add(r.json<{ detail?: string }>().detail ?? '');
      }
      assert.equal(details.size, 1, `one answer for every refusal: ${[...details].join(' | ')}`);
      const now = await call('GET', `/cases/${caseId}`);
      assert.deepEqual(now.json<{ assignedClinicians: string[] }>().assignedClinicians, team);
    });

    test('opening a case refuses them too', async () => {
      for (const [what, id] of Object.entries(refused)) {
        const r = await call('POST', '/cases', {
          patientId,
          chiefComplaint: 'Synthetic fever',
          assignedClinicians: [id],
        });
        assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
        assert.equal(r.json<{ code: string }>().code, 'validation_failed', what);
      }
    });
  });
}
