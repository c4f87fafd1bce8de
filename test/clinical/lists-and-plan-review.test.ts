import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  activate,
  auth,
  countEvents,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

interface Plan {
  id: string;
  status: string;
  version: number;
  reviewerId: string | null;
  reviewedAt: string | null;
}

for (const engine of availableEngines()) {
  describe(`patient and case lists, plan workflow and review (${engine})`, () => {
    let api: TestApi;
    let author: string;
    let reviewer: string;
    let nurse: string;
    let admin: string;
    let other: string;
    let reviewerId: string;
    const patientIds: string[] = [];
    const caseIds: string[] = [];

    const call = (
      method: 'GET' | 'POST',
      url: string,
      token: string,
      payload?: object,
      headers: Record<string, string> = {},
    ) =>
      api.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: { ...auth(token, 'TREAT'), ...headers },
        ...(payload ? { payload: payload as Record<string, unknown> } : {}),
      });

    before(async () => {
      api = await createTestApi(() => [], engine);
      const org = await seedOrg(api, 'Lists', ['doctor', 'nurse', 'admin']);
      author = await tokenFor(api, org.users['doctor']!.email);
      nurse = await tokenFor(api, org.users['nurse']!.email);
      admin = await tokenFor(api, org.users['admin']!.email);
      await enrollTotp(api, admin);
      const second = await api.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: auth(admin),
        payload: { email: `reviewer.${Date.now()}@example.test`, role: 'doctor' },
      });
      assert.equal(second.statusCode, 201, second.body);
      reviewerId = second.json<{ id: string }>().id;
      // The new doctor sets their own password with the invitation's one-time token.
      const activated = await activate(
        api,
        second.json<{ activationToken: string }>().activationToken,
      );
      assert.equal(activated.status, 200, activated.raw);
      reviewer = await tokenFor(api, second.json<{ email: string }>().email);
      const rival = await seedOrg(api, 'ListsRival', ['doctor']);
      other = await tokenFor(api, rival.users['doctor']!.email);
      for (let i = 0; i < 5; i++) {
        const p = await call('POST', '/patients', author, {
          mrn: `MRN-L${i}`,
          firstName: `First${i}`,
          lastName: 'Synthetic',
          dateOfBirth: '1980-02-02',
          ssn: `123-45-67${10 + i}`,
        });
        assert.equal(p.statusCode, 201, p.body);
        patientIds.push(p.json<{ id: string }>().id);
        const c = await call('POST', '/cases', author, {
          patientId: p.json<{ id: string }>().id,
          chiefComplaint: `Complaint ${i}`,
          priority: i % 2 === 0 ? 'high' : 'low',
        });
        caseIds.push(c.json<{ id: string }>().id);
      }
    });
    after(async () => api.close());

    test('patients page through every row once, with minimum-necessary fields and one event per page', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      const before = await countEvents(api, 'patient.list');
      do {
        const r = await call('GET', `/patients?limit=2${cursor ? `&cursor=${cursor}` : ''}`, nurse);
        assert.equal(r.statusCode, 200, r.body);
        const page = r.json<{ items: Record<string, unknown>[]; nextCursor: string | null }>();
        for (const p of page.items) {
          seen.push(String(p['id']));
          assert.equal(p['ssn'], undefined, 'a nurse never sees the SSN');
          assert.equal(typeof p['lastName'], 'string');
        }
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.deepEqual([...seen].sort(), [...patientIds].sort());
      assert.equal(pages, 3);
      assert.equal((await countEvents(api, 'patient.list')) - before, pages);
      const ev = await api.t.db.asAdmin((tx) =>
        tx.query<{ phi_fields: string[]; metadata: { patientIds: string[] } }>(
          `select phi_fields, metadata from audit.events where event_type = 'patient.list' order by id desc limit 1`,
        ),
      );
      assert.ok(!ev.rows[0]!.phi_fields.includes('ssn'));
      assert.equal(ev.rows[0]!.metadata.patientIds.length, 1);
      const docPage = await call('GET', '/patients?limit=5', author);
      assert.equal(docPage.json<{ items: { ssn?: string }[] }>().items[0]?.ssn?.length, 11);
      const bad = await call('GET', '/patients?cursor=bogus', author);
      assert.equal(bad.statusCode, 400);
      const foreign = await call('GET', '/patients', other);
      assert.equal(foreign.json<{ items: unknown[] }>().items.length, 0, 'no other tenant rows');
      const statusFilter = await call('GET', '/patients?status=deceased', author);
      assert.equal(statusFilter.json<{ items: unknown[] }>().items.length, 0);
    });

    test('cases filter by status, priority, patient and assignment, without the chief complaint', async () => {
      const high = await call('GET', '/cases?priority=high', author);
      assert.equal(high.statusCode, 200, high.body);
      const items = high.json<{ items: Record<string, unknown>[] }>().items;
      assert.equal(items.length, 3);
      assert.ok(items.every((c) => c['priority'] === 'high' && !('chiefComplaint' in c)));
      const one = await call('GET', `/cases?patientId=${patientIds[1]}`, author);
      assert.deepEqual(
        one.json<{ items: { id: string }[] }>().items.map((c) => c.id),
        [caseIds[1]],
      );
      const mine = await call('GET', '/cases?assignedToMe=true', reviewer);
      assert.equal(mine.json<{ items: unknown[] }>().items.length, 0);
      const open = await call('GET', '/cases?status=open&limit=4', author);
      const page = open.json<{ items: unknown[]; nextCursor: string | null }>();
      assert.equal(page.items.length, 4);
      assert.ok(page.nextCursor);
      const rest = await call('GET', `/cases?status=open&cursor=${page.nextCursor}`, author);
      assert.equal(rest.json<{ items: unknown[] }>().items.length, 1);
      const wrong = await call('GET', `/patients?cursor=${page.nextCursor}`, author);
      assert.equal(wrong.statusCode, 400, 'a cursor is bound to its list');
      assert.equal((await call('GET', '/cases?priority=extreme', author)).statusCode, 400);
      assert.equal(
        (await call('GET', '/cases', other)).json<{ items: unknown[] }>().items.length,
        0,
      );
    });

    test('plans: review by another clinician, If-Match, workflow transitions', async () => {
      const created = await call('POST', `/cases/${caseIds[0]}/plans`, author, { title: 'Plan A' });
      assert.equal(created.statusCode, 201, created.body);
      const plan = created.json<Plan>();
      const ifMatch = (v: number) => ({ 'if-match': `"${v}"` });
      // Not active before review; the author cannot review their own plan.
      const early = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'active' },
        ifMatch(1),
      );
      assert.equal(early.statusCode, 409, early.body);
      const self = await call('POST', `/plans/${plan.id}/review`, author, {}, ifMatch(1));
      assert.equal(self.statusCode, 403, self.body);
      const noIfMatch = await call('POST', `/plans/${plan.id}/review`, reviewer, {});
      assert.equal(noIfMatch.statusCode, 428);
      const stale = await call('POST', `/plans/${plan.id}/review`, reviewer, {}, ifMatch(7));
      assert.equal(stale.statusCode, 412);
      const byNurse = await call('POST', `/plans/${plan.id}/review`, nurse, {}, ifMatch(1));
      assert.equal(byNurse.statusCode, 403, 'nurses lack treatment_plan:update');
      const reviewed = await call('POST', `/plans/${plan.id}/review`, reviewer, {}, ifMatch(1));
      assert.equal(reviewed.statusCode, 200, reviewed.body);
      const r = reviewed.json<Plan>();
      assert.equal(r.reviewerId, reviewerId);
      assert.ok(r.reviewedAt);
      assert.equal(reviewed.headers['etag'], '"2"');
      const twice = await call('POST', `/plans/${plan.id}/review`, reviewer, {}, ifMatch(2));
      assert.equal(twice.statusCode, 409);
      const toDone = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'completed' },
        ifMatch(2),
      );
      assert.equal(toDone.statusCode, 409, 'draft cannot jump to completed');
      const staleMove = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'active' },
        ifMatch(1),
      );
      assert.equal(staleMove.statusCode, 412);
      const active = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'active' },
        ifMatch(2),
      );
      assert.equal(active.statusCode, 200, active.body);
      assert.equal(active.json<Plan>().status, 'active');
      const done = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'completed' },
        ifMatch(3),
      );
      assert.equal(done.json<Plan>().status, 'completed');
      const back = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'cancelled' },
        ifMatch(4),
      );
      assert.equal(back.statusCode, 409, 'completed is final');
      const draft = await call(
        'POST',
        `/plans/${plan.id}/transition`,
        author,
        { status: 'draft' },
        ifMatch(4),
      );
      assert.equal(draft.statusCode, 400);
      const read = await call('GET', `/plans/${plan.id}`, author);
      assert.equal(read.headers['etag'], '"4"');
      assert.equal(
        (
          await call(
            'POST',
            `/plans/${plan.id}/transition`,
            other,
            { status: 'cancelled' },
            ifMatch(4),
          )
        ).statusCode,
        404,
      );
      // The database refuses the same moves on its own.
      await assert.rejects(
        api.t.db.asAdmin((tx) =>
          tx.query(`update clinical.treatment_plans set status = 'active' where id = $1`, [
            plan.id,
          ]),
        ),
      );
      const ev = await countEvents(api, 'treatment_plan.review');
      assert.equal(ev, 1);
    });

    test('a review covers the prescriptions: none after it, and one added first makes it stale', async () => {
      const meds = await call('GET', '/medications?q=lisin', author);
      const medicationId = meds.json<{ items: { id: string }[] }>().items[0]!.id;
      const rx = (planId: string, dose: string) =>
        call('POST', `/plans/${planId}/prescriptions`, author, {
          medicationId,
          dose,
          route: 'oral',
          frequency: 'once daily',
          startDate: '2026-11-22',
        });
      const ifMatch = (v: number) => ({ 'if-match': `"${v}"` });
      const created = await call('POST', `/cases/${caseIds[1]}/plans`, author, { title: 'Plan B' });
      const planId = created.json<Plan>().id;
      const first = await rx(planId, '10 mg');
      assert.equal(first.statusCode, 201, first.body);
      assert.equal(first.headers['etag'], '"2"', 'a prescription moves the plan to a new version');
      // The reviewer read version 1, before the prescription: that review is stale.
      const stale = await call('POST', `/plans/${planId}/review`, reviewer, {}, ifMatch(1));
      assert.equal(stale.statusCode, 412, stale.body);
      const reviewed = await call('POST', `/plans/${planId}/review`, reviewer, {}, ifMatch(2));
      assert.equal(reviewed.statusCode, 200, reviewed.body);
      const after = await rx(planId, '40 mg');
      assert.equal(after.statusCode, 409, after.body);
      assert.match(after.json<{ detail: string }>().detail, /reviewed/);
      const active = await call(
        'POST',
        `/plans/${planId}/transition`,
        author,
        { status: 'active' },
        ifMatch(3),
      );
      assert.equal(active.statusCode, 200, active.body);
      assert.equal((await rx(planId, '40 mg')).statusCode, 409, 'an active plan takes none');
      const read = await call('GET', `/plans/${planId}`, author);
      const items = read.json<{ prescriptions: { dose: string }[] }>().prescriptions;
      assert.deepEqual(
        items.map((p) => p.dose),
        ['10 mg'],
        'only the reviewed prescription',
      );
      // The database refuses the same on its own, whoever writes the rows.
      const plan = (
        await api.t.db.asAdmin((tx) =>
          tx.query<{
            organization_id: string;
            case_id: string;
            patient_id: string;
            author_id: string;
          }>(
            'select organization_id, case_id, patient_id, author_id from clinical.treatment_plans where id = $1',
            [planId],
          ),
        )
      ).rows[0]!;
      await assert.rejects(
        api.t.db.asAdmin((tx) =>
          tx.query(
            `insert into clinical.prescriptions (organization_id, plan_id, patient_id, medication_id, dose,
                                                 route, frequency, start_date, prescriber_id)
             values ($1, $2, $3, $4, '80 mg', 'oral', 'daily', current_date, $5)`,
            [plan.organization_id, planId, plan.patient_id, medicationId, plan.author_id],
          ),
        ),
        /unreviewed draft/,
      );
      await assert.rejects(
        api.t.db.asAdmin((tx) =>
          tx.query(
            `insert into clinical.treatment_plans (organization_id, case_id, patient_id, title, status, author_id)
             values ($1, $2, $3, 'Straight to active', 'active', $4)`,
            [plan.organization_id, plan.case_id, plan.patient_id, plan.author_id],
          ),
        ),
        /unreviewed draft/,
      );
    });

    test('care-team policies apply to plan, prescription, image and case-list routes', async () => {
      const plan = (
        await call('POST', `/cases/${caseIds[2]}/plans`, author, { title: 'Plan B' })
      ).json<Plan>();
      const policy = await api.app.inject({
        method: 'POST',
        url: '/api/v1/access-policies',
        headers: auth(admin),
        payload: {
          name: 'care-team-only',
          document: {
            effect: 'deny',
            actions: ['case:read', 'treatment_plan:*', 'prescription:*', 'image:*'],
            resource: { careTeam: 'non-member' },
          },
        },
      });
      assert.equal(policy.statusCode, 201, policy.body);
      assert.equal((await call('GET', `/plans/${plan.id}`, author)).statusCode, 200);
      assert.equal((await call('GET', `/plans/${plan.id}`, reviewer)).statusCode, 403);
      const rx = await call('POST', `/plans/${plan.id}/prescriptions`, reviewer, {
        medicationId: '00000000-0000-4000-8000-000000000000',
        dose: '1 mg',
        route: 'oral',
        frequency: 'daily',
        startDate: '2026-11-22',
      });
      assert.equal(rx.statusCode, 403);
      const review = await call(
        'POST',
        `/plans/${plan.id}/review`,
        reviewer,
        {},
        { 'if-match': '"1"' },
      );
      assert.equal(review.statusCode, 403);
      const img = await call('POST', `/cases/${caseIds[2]}/images`, reviewer, {
        modality: 'CT',
        contentType: 'image/png',
      });
      assert.equal(img.statusCode, 403);
      const list = await call('GET', '/cases', reviewer);
      assert.equal(list.statusCode, 200);
      assert.equal(
        list.json<{ items: unknown[] }>().items.length,
        0,
        'non-member cases are withheld',
      );
      assert.equal(
        (await call('GET', '/cases', author)).json<{ items: unknown[] }>().items.length,
        5,
      );
    });
  });
}
