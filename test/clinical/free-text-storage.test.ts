import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecurityEvent } from '../../src/modules/crypto/index.ts';
import { keyStatus, retireKey, rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { columnRegistry } from '../../src/modules/crypto/known-columns.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { ident, qualified } from '../../src/platform/db/index.ts';
import {
  auth,
  createPatientAs,
  createTestApi,
  seedOrg,
  enrollTotp,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// Clinical free text and what people write about emergency access (migration 0022): written
// through the API, it is stored only as ciphertext bound to its place, read back unchanged,
// moved by a rotation's rewrap, counted by `keys status`, and a value moved to another row,
// column or tenant fails to decrypt. Lists open only the fields they return.

/** The free-text columns 0022 encrypts (listed here, not taken from the registry under test). */
const freeText = [
  ['clinical', 'medical_cases', 'symptoms_encrypted'],
  ['clinical', 'medical_cases', 'tags_encrypted'],
  ['clinical', 'diagnoses', 'evidence_encrypted'],
  ['clinical', 'diagnoses', 'decision_reason_encrypted'],
  ['clinical', 'treatment_plans', 'title_encrypted'],
  ['clinical', 'treatment_plans', 'goals_encrypted'],
  ['clinical', 'treatment_plans', 'interventions_encrypted'],
  ['clinical', 'treatment_plans', 'schedule_encrypted'],
  ['ward', 'break_glass_sessions', 'reason_encrypted'],
  ['ward', 'review_tasks', 'summary_encrypted'],
  ['ward', 'review_tasks', 'notes_encrypted'],
  ['ward', 'security_alerts', 'notes_encrypted'],
] as const;

// Identifying details a clinician might type into free text; none may reach any table.
const text = {
  complaint: 'Chest pain since Quinlan Ashdown fell at 14 Larkspur Row',
  symptom: 'dizzy since Quinlan Ashdown left Larkspur Row',
  tag: 'ashdown-family',
  evidence: 'note quotes: Quinlan Ashdown, 14 Larkspur Row, smoker',
  reject: 'Ruled out: Quinlan Ashdown had a normal ECG',
  revise: 'Revised: Quinlan Ashdown has a history of migraine',
  title: 'Plan for Quinlan Ashdown',
  goal: 'Quinlan Ashdown walks to Larkspur Row unaided',
  intervention: 'Daughter Wren Ashdown supervises the doses',
  schedule: 'call Wren Ashdown on 555-0199 weekly',
  reason: 'Quinlan Ashdown unconscious at 14 Larkspur Row, no relative reachable',
  reviewNotes: 'Confirmed with Wren Ashdown that the access was needed',
  alertNotes: 'The doctor knows Quinlan Ashdown personally; access was justified',
};
const needles = ['ashdown', 'larkspur', '555-0199'];

for (const engine of availableEngines()) {
  describe(`free text is stored encrypted (${engine})`, () => {
    let api: TestApi;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    let other: Awaited<ReturnType<typeof seedOrg>>;
    let doctor: string;
    let auditor: string;
    const ids = {
      cases: [] as string[],
      diagnoses: [] as string[],
      plan: '',
      breakGlass: '',
      task: '',
      alert: '',
      otherCase: '',
      otherDiagnosis: '',
    };
    const events: SecurityEvent[] = [];

    const call = (
      token: string,
      method: 'GET' | 'POST',
      url: string,
      purpose?: string,
      payload?: object,
    ) =>
      api.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: auth(token, purpose),
        ...(payload ? { payload: payload as Record<string, unknown> } : {}),
      });
    const ok = async <T>(r: Promise<{ statusCode: number; body: string }>, status = 200) => {
      const res = await r;
      assert.equal(res.statusCode, status, res.body);
      return JSON.parse(res.body) as T;
    };
    const admin = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
      api.t.db.asAdmin(async (tx) => (await tx.query<T>(sql, params)).rows);

    /** Opens a case with free text, an AI suggestion (rejected) and another (revised). */
    const clinicalRecord = async (token: string, mrn: string, full: boolean) => {
      const patientId = await createPatientAs(api, token, mrn);
      const c = await ok<{ id: string }>(
        call(token, 'POST', '/cases', 'TREAT', {
          patientId,
          chiefComplaint: text.complaint,
          symptoms: [text.symptom, { onset: text.symptom }],
          tags: [text.tag],
        }),
        201,
      );
      const suggest = () =>
        ok<{ id: string }>(
          call(token, 'POST', `/cases/${c.id}/diagnoses`, 'TREAT', {
            icd10Code: 'R07.9',
            source: 'ai',
            modelId: 'ward-test-model',
            modelVersion: '1',
            confidence: 0.4,
            evidence: { quote: text.evidence, scores: [0.4, 0.1] },
          }),
          201,
        );
      const d = await suggest();
      if (!full) return { caseId: c.id, diagnosisId: d.id };
      await ok(
        call(token, 'POST', `/diagnoses/${d.id}/decision`, 'TREAT', {
          decision: 'reject',
          reason: text.reject,
        }),
      );
      const d2 = await suggest();
      await ok(
        call(token, 'POST', `/diagnoses/${d2.id}/decision`, 'TREAT', {
          decision: 'revise',
          reason: text.revise,
          icd10Code: 'G43.909',
        }),
      );
      return { caseId: c.id, diagnosisId: d.id, revisedId: d2.id, patientId };
    };

    before(async () => {
      api = await createTestApi(undefined, engine);
      api.rt.crypto.onSecurityEvent((e) => {
        events.push(e);
      });
      org = await seedOrg(api, 'FreeText', ['doctor', 'auditor']);
      other = await seedOrg(api, 'FreeTextOther', ['doctor']);
      doctor = await tokenFor(api, org.users['doctor']!.email);
      auditor = await tokenFor(api, org.users['auditor']!.email);
      // Auditors read security records in bulk, so they use MFA.
      await enrollTotp(api, auditor);
      const first = await clinicalRecord(doctor, 'MRN-FT-1', true);
      const second = await clinicalRecord(doctor, 'MRN-FT-2', false);
      ids.cases.push(first.caseId, second.caseId);
      ids.diagnoses.push(first.diagnosisId, first.revisedId!, second.diagnosisId);
      const plan = await ok<{ id: string }>(
        call(doctor, 'POST', `/cases/${first.caseId}/plans`, 'TREAT', {
          title: text.title,
          goals: [text.goal],
          interventions: [text.intervention, { kind: 'visit', note: text.intervention }],
          schedule: { followUp: text.schedule, everyDays: 7 },
        }),
        201,
      );
      ids.plan = plan.id;
      const bg = await ok<{ id: string; reviewTaskId: string; alertId: string }>(
        call(doctor, 'POST', '/access/break-glass', undefined, {
          reason: text.reason,
          minutes: 5,
          patientId: first.patientId,
        }),
        201,
      );
      ids.breakGlass = bg.id;
      ids.task = bg.reviewTaskId;
      ids.alert = bg.alertId;
      await ok(
        call(auditor, 'POST', `/access/review-tasks/${bg.reviewTaskId}/close`, undefined, {
          resolution: 'appropriate',
          notes: text.reviewNotes,
        }),
      );
      await ok(
        call(auditor, 'POST', `/security-alerts/${bg.alertId}/resolve`, undefined, {
          resolution: 'benign',
          notes: text.alertNotes,
        }),
      );
      const otherDoctor = await tokenFor(api, other.users['doctor']!.email);
      const theirs = await clinicalRecord(otherDoctor, 'MRN-FT-X', false);
      ids.otherCase = theirs.caseId;
      ids.otherDiagnosis = theirs.diagnosisId;
    });
    after(async () => api.close());

    test('the API returns the free text as it was written, and the audit names it', async () => {
      const c = await ok<Record<string, unknown>>(
        call(doctor, 'GET', `/cases/${ids.cases[0]!}`, 'TREAT'),
      );
      assert.equal(c['chiefComplaint'], text.complaint);
      assert.deepEqual(c['symptoms'], [text.symptom, { onset: text.symptom }]);
      assert.deepEqual(c['tags'], [text.tag]);
      const list = await ok<{ items: Record<string, unknown>[] }>(
        call(doctor, 'GET', '/cases', 'TREAT'),
      );
      const listed = list.items.find((x) => x['id'] === ids.cases[0]);
      assert.deepEqual(listed?.['symptoms'], [text.symptom, { onset: text.symptom }]);
      assert.equal(listed?.['chiefComplaint'], undefined, 'the list has no chief complaint');
      const dx = await ok<{ items: Record<string, unknown>[] }>(
        call(doctor, 'GET', `/cases/${ids.cases[0]!}/diagnoses`, 'TREAT'),
      );
      const byId = new Map(dx.items.map((x) => [x['id'], x]));
      assert.equal(byId.get(ids.diagnoses[0])?.['decisionReason'], text.reject);
      assert.equal(byId.get(ids.diagnoses[1])?.['decisionReason'], text.revise);
      assert.deepEqual(byId.get(ids.diagnoses[0])?.['evidence'], {
        quote: text.evidence,
        scores: [0.4, 0.1],
      });
      const replacement = dx.items.find((x) => x['status'] === 'confirmed');
      assert.deepEqual(replacement?.['evidence'], { revises: ids.diagnoses[1] });
      const plan = await ok<Record<string, unknown>>(
        call(doctor, 'GET', `/plans/${ids.plan}`, 'TREAT'),
      );
      assert.equal(plan['title'], text.title);
      assert.deepEqual(plan['goals'], [text.goal]);
      assert.deepEqual(plan['interventions'], [
        text.intervention,
        { kind: 'visit', note: text.intervention },
      ]);
      assert.deepEqual(plan['schedule'], { followUp: text.schedule, everyDays: 7 });
      const tasks = await ok<{ items: { id: string; summary: string }[] }>(
        call(auditor, 'GET', '/access/review-tasks'),
      );
      assert.ok(tasks.items.find((x) => x.id === ids.task)?.summary.endsWith(`: ${text.reason}`));
      const alerts = await ok<{ items: { id: string; notes: string | null }[] }>(
        call(auditor, 'GET', '/security-alerts'),
      );
      assert.equal(alerts.items.find((x) => x.id === ids.alert)?.notes, text.alertNotes);
      const review = await ok<{ items: { sessionId: string; reason: string }[] }>(
        call(auditor, 'GET', '/reports/break-glass'),
      );
      assert.equal(review.items.find((x) => x.sessionId === ids.breakGlass)?.reason, text.reason);

      const audited = await admin<{ event_type: string; phi_fields: string[] }>(
        `select event_type, phi_fields from audit.events
          where organization_id = $1 and event_type in ('case.read', 'case.list', 'diagnosis.list',
                                                        'treatment_plan.read', 'report.break_glass')
          order by id`,
        [org.orgId],
      );
      const fields = (type: string) => audited.find((e) => e.event_type === type)?.phi_fields;
      assert.deepEqual(fields('case.read'), ['chiefComplaint', 'symptoms', 'tags']);
      assert.deepEqual(fields('case.list'), ['symptoms', 'tags']);
      assert.deepEqual(fields('diagnosis.list'), ['icd10Code', 'evidence', 'decisionReason']);
      assert.deepEqual(fields('treatment_plan.read'), [
        'title',
        'goals',
        'interventions',
        'schedule',
        'prescriptions',
      ]);
      assert.deepEqual(fields('report.break_glass'), ['reason']);
    });

    test('no table holds the free text; every value is ciphertext and no legacy column is filled', async () => {
      const tables = await admin<{ schemaname: string; tablename: string }>(
        `select schemaname, tablename from pg_tables
          where schemaname in ('ward', 'clinical', 'audit') order by 1, 2`,
      );
      for (const t of tables) {
        const rows = await admin<{ j: string }>(
          `select to_jsonb(x)::text as j from ${qualified(t.schemaname, t.tablename)} x`,
        );
        for (const { j } of rows) {
          const lower = j.toLowerCase();
          for (const n of needles)
            assert.ok(!lower.includes(n), `${t.schemaname}.${t.tablename} holds free text`);
        }
      }
      for (const [schema, table, column] of freeText) {
        const rows = await admin<{ v: Buffer | null }>(
          `select ${ident(column)} as v from ${qualified(schema, table)} where organization_id = $1`,
          [org.orgId],
        );
        const values = rows.map((r) => r.v).filter((v): v is Buffer => v !== null);
        assert.ok(values.length > 0, `${table}.${column} has a value to check`);
        for (const v of values) {
          assert.equal(v[0], 0x01, `${table}.${column}: format 1`);
          assert.equal(v.readUInt32BE(1), 1, `${table}.${column}: under key version 1`);
        }
      }
      const legacy = columnRegistry.encryptedColumns().filter((c) => c.legacy);
      assert.equal(legacy.length, freeText.length, 'each free-text column names its legacy column');
      for (const c of legacy) {
        const [row] = await admin<{ n: number }>(
          `select count(*)::int as n from ${qualified(c.schema, c.table)}
            where ${ident(c.legacy!.column)} is not null`,
        );
        assert.equal(row?.n, 0, `${c.table}.${c.legacy!.column} is never written`);
      }
    });

    test('requests cannot write the plaintext columns at all', async () => {
      for (const c of columnRegistry.encryptedColumns().filter((x) => x.legacy)) {
        const [p] = await admin<{ ins: boolean; upd: boolean }>(
          `select has_column_privilege('ward_app', $1, $2, 'INSERT') as ins,
                  has_column_privilege('ward_app', $1, $2, 'UPDATE') as upd`,
          [`${c.schema}.${c.table}`, c.legacy!.column],
        );
        assert.deepEqual(p, { ins: false, upd: false }, `${c.table}.${c.legacy!.column}`);
      }
      await assert.rejects(
        api.t.db.withContext({ orgId: org.orgId, actorType: 'user' }, (tx) =>
          tx.query(
            `insert into ward.review_tasks (organization_id, kind, subject_id, summary)
             values ($1, 'break_glass_review', gen_random_uuid(), 'plaintext summary')`,
            [org.orgId],
          ),
        ),
        /permission denied/,
      );
    });

    // Tampering runs as ward_system (the role of the rewrap job): a resolved alert's notes
    // refuse every other role, the owner included.
    const tamper = (sql: string, params: unknown[]) =>
      api.t.db.asSystem({ name: 'test.tamper', reason: 'moves ciphertext around' }, (tx) =>
        tx.query(sql, params),
      );

    /** Replaces a stored value with another (as ward_system), runs `fn`, then puts it back. */
    const swapped = async (
      target: { table: string; column: string; id: string },
      source: { table: string; column: string; id: string },
      fn: () => Promise<void>,
    ) => {
      const [orig] = await admin<{ v: Buffer }>(
        `select ${ident(target.column)} as v from ${target.table} where id = $1`,
        [target.id],
      );
      await tamper(
        `update ${target.table} set ${ident(target.column)} =
           (select ${ident(source.column)} from ${source.table} where id = $2) where id = $1`,
        [target.id, source.id],
      );
      try {
        events.length = 0;
        await fn();
      } finally {
        await tamper(`update ${target.table} set ${ident(target.column)} = $2 where id = $1`, [
          target.id,
          orig!.v,
        ]);
      }
    };

    /** A read that must fail with decrypt_failed for exactly this place, and report it. */
    const failsAt = async (
      res: Promise<{ statusCode: number; body: string }>,
      place: { table: string; column: string; id: string },
    ) => {
      const r = await res;
      assert.equal(r.statusCode, 500, r.body);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'decrypt_failed');
      for (const n of needles) assert.ok(!r.body.toLowerCase().includes(n));
      const failed = events.filter((e) => e.type === 'crypto.decrypt_failed');
      assert.equal(failed.length, 1, JSON.stringify(events));
      assert.deepEqual(
        failed.map((e) => e.type === 'crypto.decrypt_failed' && [e.table, e.column, e.rowId]),
        [[place.table, place.column, place.id]],
      );
    };

    test('ciphertext moved to another row, column or tenant fails to decrypt, naming its place', async () => {
      const [case1, case2] = ids.cases as [string, string];
      const symptoms = { table: 'clinical.medical_cases', column: 'symptoms_encrypted', id: case1 };
      await swapped(symptoms, { ...symptoms, id: case2 }, () =>
        failsAt(call(doctor, 'GET', `/cases/${case1}`, 'TREAT'), symptoms),
      );
      const goals = { table: 'clinical.treatment_plans', column: 'goals_encrypted', id: ids.plan };
      await swapped(goals, { ...goals, column: 'interventions_encrypted' }, () =>
        failsAt(call(doctor, 'GET', `/plans/${ids.plan}`, 'TREAT'), goals),
      );
      const evidence = {
        table: 'clinical.diagnoses',
        column: 'evidence_encrypted',
        id: ids.diagnoses[2]!,
      };
      await swapped(evidence, { ...evidence, id: ids.otherDiagnosis }, () =>
        failsAt(call(doctor, 'GET', `/cases/${case2}/diagnoses`, 'TREAT'), evidence),
      );
      const summary = { table: 'ward.review_tasks', column: 'summary_encrypted', id: ids.task };
      const reason = {
        table: 'ward.break_glass_sessions',
        column: 'reason_encrypted',
        id: ids.breakGlass,
      };
      await swapped(summary, reason, () =>
        failsAt(call(auditor, 'GET', '/access/review-tasks'), summary),
      );
      const notes = { table: 'ward.security_alerts', column: 'notes_encrypted', id: ids.alert };
      const theirNotes = { table: 'ward.review_tasks', column: 'notes_encrypted', id: ids.task };
      await swapped(notes, theirNotes, () =>
        failsAt(call(auditor, 'GET', '/security-alerts'), notes),
      );
      // Put back, everything reads again.
      await ok(call(doctor, 'GET', `/cases/${case1}`, 'TREAT'));
      await ok(call(auditor, 'GET', '/access/review-tasks'));
    });

    test('lists never open a field they do not return', async () => {
      const [case1, case2] = ids.cases as [string, string];
      const complaint = {
        table: 'clinical.medical_cases',
        column: 'chief_complaint_encrypted',
        id: case1,
      };
      await swapped(complaint, { ...complaint, id: case2 }, async () => {
        await ok(call(doctor, 'GET', '/cases', 'TREAT'));
        assert.deepEqual(events, [], 'the case list did not decrypt the chief complaint');
        await failsAt(call(doctor, 'GET', `/cases/${case1}`, 'TREAT'), complaint);
      });
      const taskNotes = { table: 'ward.review_tasks', column: 'notes_encrypted', id: ids.task };
      await swapped(taskNotes, { ...taskNotes, column: 'summary_encrypted' }, async () => {
        await ok(call(auditor, 'GET', '/access/review-tasks'));
        assert.deepEqual(events, [], 'the review-task list did not decrypt the notes');
      });
    });

    test('a rotation: keys status counts the free text, rewrap moves it, the old version retires', async () => {
      const deps = { db: api.t.db, keyring: api.rt.crypto.keyring, events: api.rt.crypto.events };
      const columns = new Map<string, { schema: string; table: string; column: string }>();
      for (const c of columnRegistry.encryptedColumns())
        columns.set(`${c.schema}.${c.table}.${c.column}`, c);
      for (const [schema, table, column] of freeText)
        columns.set(`${schema}.${table}.${column}`, { schema, table, column });
      let expected = 0;
      for (const c of columns.values()) {
        const [row] = await admin<{ n: number }>(
          `select count(*)::int as n from ${qualified(c.schema, c.table)}
            where organization_id = $1 and ${ident(c.column)} is not null`,
          [org.orgId],
        );
        expected += row?.n ?? 0;
      }
      await rotateDataKeys(deps, org.orgId);
      const before = await keyStatus(deps, org.orgId);
      assert.equal(before.find((k) => k.version === 1)?.values, expected);
      const report = await rewrapValues(deps, { orgId: org.orgId, settleMs: 0, batchSize: 3 });
      assert.equal(report.organizations[0]?.rewrapped, expected);
      assert.equal(report.organizations[0]?.plaintext, 0);
      const status = await keyStatus(deps, org.orgId);
      assert.equal(status.find((k) => k.version === 1)?.values, 0);
      assert.equal(status.find((k) => k.version === 2)?.values, expected);
      for (const [schema, table, column] of freeText) {
        const rows = await admin<{ v: Buffer | null }>(
          `select ${ident(column)} as v from ${qualified(schema, table)}
            where organization_id = $1 and ${ident(column)} is not null`,
          [org.orgId],
        );
        for (const { v } of rows) assert.equal(v?.readUInt32BE(1), 2, `${table}.${column}`);
      }
      await retireKey(deps, org.orgId, 1);
      const c = await ok<Record<string, unknown>>(
        call(doctor, 'GET', `/cases/${ids.cases[0]!}`, 'TREAT'),
      );
      assert.deepEqual(c['symptoms'], [text.symptom, { onset: text.symptom }]);
      const plan = await ok<Record<string, unknown>>(
        call(doctor, 'GET', `/plans/${ids.plan}`, 'TREAT'),
      );
      assert.equal(plan['title'], text.title);
      const alerts = await ok<{ items: { id: string; notes: string | null }[] }>(
        call(auditor, 'GET', '/security-alerts'),
      );
      assert.equal(alerts.items.find((x) => x.id === ids.alert)?.notes, text.alertNotes);
    });
  });
}
