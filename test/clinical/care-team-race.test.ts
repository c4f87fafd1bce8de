import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { caseResource, loadCase, setCareTeam } from '../../src/modules/clinical/cases-service.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// A care-team decision is only as good as the row it was made on: a clinician's write that was
// authorized on the case's care team must not land after that team has changed without them.
// Two transactions must overlap, so this needs PostgreSQL (the embedded engine runs one at a time).
const engines = availableEngines().filter((e) => e === 'postgres');
if (engines.length === 0) {
  test(
    'care-team changes serialize with writes authorized on the team',
    { skip: 'needs PostgreSQL' },
    () => {},
  );
}

for (const engine of engines) {
  describe(`care-team race (${engine})`, () => {
    let api: TestApi;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    let caseId: string;
    before(async () => {
      api = await createTestApi(undefined, engine);
      org = await seedOrg(api, 'TeamRace', ['doctor', 'nurse']);
      const doctor = await tokenFor(api, org.users['doctor']!.email);
      const p = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(doctor, 'TREAT'),
        payload: {
          mrn: 'MRN-RACE',
          firstName: 'Race',
          lastName: 'Synthetic',
          dateOfBirth: '1970-01-01',
        },
      });
      assert.equal(p.statusCode, 201, p.body);
      const c = await api.app.inject({
        method: 'POST',
        url: '/api/v1/cases',
        headers: auth(doctor, 'TREAT'),
        payload: {
          patientId: p.json<{ id: string }>().id,
          chiefComplaint: 'Chest pain on exertion',
          assignedClinicians: [org.users['doctor']!.id, org.users['nurse']!.id],
        },
      });
      assert.equal(c.statusCode, 201, c.body);
      caseId = c.json<{ id: string }>().id;
    });
    after(async () => api.close());

    test('a removal committed while a member works the case is not undone by that member', async () => {
      const nurseId = org.users['nurse']!.id;
      const doctor = await tokenFor(api, org.users['doctor']!.email);
      const ctx = { orgId: org.orgId, userId: nurseId, actorType: 'user' as const };
      let removal: Promise<{ statusCode: number }> | undefined;
      await api.t.db.withContext(ctx, async (tx) => {
        // The nurse's request loads the case as a write does and is authorized: on the team.
        const row = await loadCase(tx, org.orgId, caseId, { forWrite: true });
        assert.ok(caseResource(row).careTeam.includes(nurseId));
        // Meanwhile the doctor takes the nurse off the case.
        removal = api.app.inject({
          method: 'PUT',
          url: `/api/v1/cases/${caseId}/care-team`,
          headers: auth(doctor, 'TREAT'),
          payload: { assignedClinicians: [org.users['doctor']!.id] },
        });
        let done = false;
        void removal.then(() => (done = true));
        for (let i = 0; i < 250 && !done; i++) {
          const waiting = await api.t.db.asAdmin((a) =>
            a.query("select 1 from pg_stat_activity where wait_event_type = 'Lock'"),
          );
          if (waiting.rowCount) break;
          await sleep(20);
        }
        // The nurse's write, decided on the row it loaded, puts the whole team back.
        await setCareTeam(tx, row, [org.users['doctor']!.id, nurseId]);
      });
      assert.equal((await removal!).statusCode, 200);
      const team = await api.t.db.asAdmin((a) =>
        a.query<{ t: string[] }>(
          'select assigned_clinicians::text[] as t from clinical.medical_cases where id = $1',
          [caseId],
        ),
      );
      assert.deepEqual(team.rows[0]!.t, [org.users['doctor']!.id], 'the removal stands');
    });
  });
}
