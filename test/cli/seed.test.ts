import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { demoCredentialsPath } from '../../src/modules/demo/credentials-file.ts';
import { lastJson, runCli } from '../helpers/cli.ts';
import { createCliTarget, createClinicViaCli, type CliTarget } from '../helpers/cli-target.ts';
import { availableEngines } from '../helpers/db.ts';

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup) await c();
});

async function target(engine: 'pglite' | 'postgres'): Promise<CliTarget> {
  const t = await createCliTarget(engine);
  cleanup.push(() => t.close());
  return t;
}

interface SeedJson {
  orgId: string;
  seed: string;
  patients: number;
  cases: number;
  diagnoses: number;
  plans: number;
  prescriptions: number;
  rows: number;
  rowsPerSecond: number;
  mrnPrefix: string;
}

async function count(t: CliTarget, sql: string, params: unknown[] = []): Promise<number> {
  const rt = await t.open();
  try {
    return await rt.db.asAdmin(async (tx) => {
      const r = await tx.query<{ n: number }>(sql, params);
      return r.rows[0]?.n ?? 0;
    });
  } finally {
    await rt.close();
  }
}

/**
 * Everything seeded into an organization in a form that does not depend on generated ids or
 * on which database it is in: patients by MRN with decrypted PHI, their cases (decrypted
 * complaint, care team by role), diagnoses, plans and prescriptions.
 */
async function logicalData(t: CliTarget, orgId: string): Promise<unknown[]> {
  const rt = await t.open();
  const codec = rt.crypto.codec;
  try {
    return await rt.db.withContext({ orgId, actorType: 'system' }, async (tx) => {
      const q = async <R>(sql: string): Promise<R[]> => (await tx.query<R>(sql, [orgId])).rows;
      const staff = new Map(
        (
          await q<{ id: string; email: string }>(
            'select id, email from ward.users where organization_id = $1',
          )
        ).map((u) => [u.id, u.email.split('-')[0]]),
      );
      const patients = await q<Record<string, unknown> & { id: string; mrn: string }>(
        `select id, mrn, first_name_encrypted, last_name_encrypted, date_of_birth_encrypted, ssn_encrypted,
                email_encrypted, phone_encrypted, address_encrypted, insurance_encrypted,
                allergies, conditions, vitals, risk_category
           from clinical.patients where organization_id = $1 order by mrn`,
      );
      const cases = await q<Record<string, unknown> & { id: string; patient_id: string }>(
        `select id, patient_id, status, priority, chief_complaint_encrypted, symptoms_encrypted, vitals,
                tags_encrypted, assigned_clinicians, opened_by, closed_at is not null as closed
           from clinical.medical_cases where organization_id = $1`,
      );
      // Free text is ciphertext bound to its row (migration 0022): opened here, by column.
      const open = async (
        table: string,
        row: Record<string, unknown>,
        columns: string[],
      ): Promise<Record<string, unknown>> => {
        const text = await codec.decryptRow(
          tx,
          { orgId, table: `clinical.${table}`, rowId: row['id'] as string },
          row as Record<string, Buffer | null>,
          columns,
        );
        return Object.fromEntries(
          columns.map((c) => {
            const v = text[c] ?? null;
            const name = c.replace(/_encrypted$/, '');
            return [
              name,
              v === null || name === 'title' || name === 'decision_reason' ? v : JSON.parse(v),
            ];
          }),
        );
      };
      const diagnoses: (Record<string, unknown> & { case_id: string })[] = [];
      for (const d of await q<Record<string, unknown> & { id: string; case_id: string }>(
        `select id, case_id, icd10_version, icd10_code, status, source, model_id, model_version,
                confidence::text as confidence, evidence_encrypted, decision_reason_encrypted,
                decided_by, suggested_by
           from clinical.diagnoses where organization_id = $1
          order by icd10_code, status, source`,
      )) {
        const plain = Object.entries(d).filter(([k]) => k !== 'id' && !k.endsWith('_encrypted'));
        diagnoses.push({
          ...(Object.fromEntries(plain) as { case_id: string }),
          ...(await open('diagnoses', d, ['evidence_encrypted', 'decision_reason_encrypted'])),
        });
      }
      const plans: (Record<string, unknown> & { id: string; case_id: string })[] = [];
      for (const p of await q<Record<string, unknown> & { id: string; case_id: string }>(
        `select id, case_id, title_encrypted, status, goals_encrypted, interventions_encrypted,
                schedule_encrypted, author_id
           from clinical.treatment_plans where organization_id = $1`,
      )) {
        plans.push({
          ...p,
          ...(await open('treatment_plans', p, [
            'title_encrypted',
            'goals_encrypted',
            'interventions_encrypted',
            'schedule_encrypted',
          ])),
        });
      }
      const prescriptions = await q<Record<string, unknown> & { plan_id: string }>(
        `select p.plan_id, m.name, m.strength, p.dose, p.route, p.frequency, p.start_date::text as start,
                p.end_date::text as "end", p.prescriber_id
           from clinical.prescriptions p join clinical.medications m on m.id = p.medication_id
          where p.organization_id = $1 order by m.name, m.strength`,
      );
      const out: unknown[] = [];
      for (const p of patients) {
        const phi = await codec.decryptRow(
          tx,
          { orgId, table: 'clinical.patients', rowId: p.id },
          p as unknown as Record<string, Buffer | null>,
          [
            'first_name_encrypted',
            'last_name_encrypted',
            'date_of_birth_encrypted',
            'ssn_encrypted',
            'email_encrypted',
            'phone_encrypted',
            'address_encrypted',
            'insurance_encrypted',
          ],
        );
        const own = [];
        for (const c of cases.filter((x) => x.patient_id === p.id)) {
          const complaint = await codec.decrypt(
            tx,
            {
              orgId,
              table: 'clinical.medical_cases',
              column: 'chief_complaint_encrypted',
              rowId: c.id,
            },
            c['chief_complaint_encrypted'] as Buffer,
          );
          const plan = plans.find((x) => x.case_id === c.id);
          const free = await open('medical_cases', c, ['symptoms_encrypted', 'tags_encrypted']);
          own.push({
            complaint,
            status: c['status'],
            priority: c['priority'],
            symptoms: free['symptoms'],
            vitals: c['vitals'],
            tags: free['tags'],
            closed: c['closed'],
            team: (c['assigned_clinicians'] as string[]).map((id) => staff.get(id)),
            openedBy: staff.get(c['opened_by'] as string),
            diagnoses: diagnoses
              .filter((d) => d.case_id === c.id)
              .map(({ case_id: _c, decided_by, suggested_by, ...d }) => ({
                ...d,
                decidedBy: decided_by === null ? null : staff.get(decided_by as string),
                suggestedBy: staff.get(suggested_by as string),
              })),
            plan: plan && {
              title: plan['title'],
              status: plan['status'],
              goals: plan['goals'],
              interventions: plan['interventions'],
              schedule: plan['schedule'],
              author: staff.get(plan['author_id'] as string),
              prescriptions: prescriptions
                .filter((x) => x.plan_id === plan.id)
                .map(({ plan_id: _p, prescriber_id, ...x }) => ({
                  ...x,
                  prescriber: staff.get(prescriber_id as string),
                })),
            },
          });
        }
        own.sort((a, b) => a.complaint.localeCompare(b.complaint));
        out.push({
          mrn: p.mrn,
          phi,
          allergies: p['allergies'],
          conditions: p['conditions'],
          vitals: p['vitals'],
          risk: p['risk_category'],
          cases: own,
        });
      }
      return out;
    });
  } finally {
    await rt.close();
  }
}

const patientCount = 'select count(*)::int as n from clinical.patients where organization_id = $1';

for (const engine of availableEngines()) {
  describe(`ward seed (${engine})`, () => {
    // Two databases for the whole suite (migrating one costs seconds on the embedded engine).
    let a: CliTarget;
    let b: CliTarget;
    before(async () => {
      a = await target(engine);
      b = await target(engine);
    });

    test('refuses bad input with a usage error and writes nothing', async () => {
      const t = a;
      const bad: [string[], RegExp][] = [
        [['seed'], /--scale N is required/],
        [['seed', '--scale', '0'], /--scale must be a whole number/],
        [['seed', '--scale=-5'], /--scale must be a whole number/],
        [['seed', '--scale', 'lots'], /--scale must be a whole number/],
        [['seed', '--scale', '1.5'], /--scale must be a whole number/],
        [['seed', '--scale', '10', '--org', 'not-a-uuid'], /--org must be an organization id/],
        [['seed', '--scale', '10', '--seed', 'has space'], /--seed must be/],
        [['seed', '--scale', '10', '--batch', '0'], /--batch must be/],
      ];
      for (const [args, message] of bad) {
        const r = await runCli(args, t.env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      const missing = await runCli(['seed', '--scale', '5', '--org', randomUUID()], t.env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not_found/);
      assert.equal(await count(t, 'select count(*)::int as n from clinical.patients'), 0);
    });

    test('the same seed gives the same logical data in two databases; a seed is not applied twice', async () => {
      const orgA = await createClinicViaCli(a, 'a');
      const orgB = await createClinicViaCli(b, 'b');
      // Different batch sizes on purpose: the data must not depend on batching.
      const ra = await runCli(
        ['seed', '--scale', '24', '--seed', 'det-1', '--org', orgA, '--batch', '7', '--json'],
        a.env,
      );
      assert.equal(ra.code, 0, ra.stderr);
      const sa = lastJson<SeedJson>(ra);
      assert.equal(sa.patients, 24);
      assert.ok(sa.cases >= 24 && sa.diagnoses > 0 && sa.plans > 0 && sa.prescriptions > 0);
      assert.equal(sa.rows, sa.patients + sa.cases + sa.diagnoses + sa.plans + sa.prescriptions);
      assert.ok(sa.rowsPerSecond > 0);
      const rb = await runCli(
        ['seed', '--scale', '24', '--seed', 'det-1', '--org', orgB, '--json'],
        b.env,
      );
      assert.equal(rb.code, 0, rb.stderr);
      const da = await logicalData(a, orgA);
      const db = await logicalData(b, orgB);
      assert.equal(da.length, 24);
      assert.deepEqual(da, db);
      assert.match(JSON.stringify(da), /"ssn_encrypted":"9\d\d-00-\d{4}"/);

      // One audit event per batch transaction (24 patients in batches of 7: 4 batches).
      assert.equal(
        await count(
          a,
          `select count(*)::int as n from audit.events where event_type = 'clinical.seed' and organization_id = $1`,
          [orgA],
        ),
        4,
      );
      const again = await runCli(['seed', '--scale', '3', '--seed', 'det-1', '--org', orgA], a.env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /conflict/);
      assert.equal(await count(a, patientCount, [orgA]), 24);
      const other = await runCli(
        ['seed', '--scale', '24', '--seed', 'det-2', '--org', orgB, '--json'],
        b.env,
      );
      assert.equal(other.code, 0, other.stderr);
      const both = (await logicalData(b, orgB)) as { mrn: string; phi: unknown }[];
      const secondRun = both.filter((p) => !p.mrn.startsWith(`${sa.mrnPrefix}-`));
      assert.equal(secondRun.length, 24);
      assert.notDeepEqual(
        secondRun.map((p) => p.phi),
        (da as { phi: unknown }[]).map((p) => p.phi),
      );
    });

    test('a stopped run resumes where its last committed batch ended, with the same data', async () => {
      const orgA = await createClinicViaCli(a, 'resume-a');
      const orgB = await createClinicViaCli(b, 'resume-b');
      // A run of 20 that stopped after two batches of 4 holds exactly its first 8 patients.
      const first = await runCli(
        ['seed', '--scale', '8', '--seed', 'det-r', '--org', orgA, '--batch', '4'],
        a.env,
      );
      assert.equal(first.code, 0, first.stderr);
      const refused = await runCli(
        ['seed', '--scale', '20', '--seed', 'det-r', '--org', orgA],
        a.env,
      );
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /already written 8 patients .*--resume/);
      assert.equal(await count(a, patientCount, [orgA]), 8, 'the refusal wrote nothing');
      const noSeed = await runCli(['seed', '--scale', '20', '--org', orgA, '--resume'], a.env);
      assert.equal(noSeed.code, 2);
      assert.match(noSeed.stderr, /--resume needs the --seed/);

      const resumed = await runCli(
        ['seed', '--scale', '20', '--seed', 'det-r', '--org', orgA, '--resume', '--json'],
        a.env,
      );
      assert.equal(resumed.code, 0, resumed.stderr);
      const r = lastJson<SeedJson & { resumedFrom: number }>(resumed);
      assert.equal(r.resumedFrom, 8);
      assert.equal(r.patients, 12, 'only the missing patients are written');
      assert.equal(await count(a, patientCount, [orgA]), 20);
      const done = await runCli(
        ['seed', '--scale', '20', '--seed', 'det-r', '--org', orgA, '--resume', '--json'],
        a.env,
      );
      assert.equal(done.code, 0, done.stderr);
      assert.equal(lastJson<SeedJson>(done).patients, 0, 'a finished run has nothing to add');

      const straight = await runCli(
        ['seed', '--scale', '20', '--seed', 'det-r', '--org', orgB],
        b.env,
      );
      assert.equal(straight.code, 0, straight.stderr);
      assert.deepEqual(await logicalData(a, orgA), await logicalData(b, orgB));
    });

    test('without --org it seeds the demo provider, creating the demo with a 0600 credentials file', async () => {
      const t = b;
      const r = await runCli(['seed', '--scale', '3', '--seed', 'x', '--json'], t.env);
      assert.equal(r.code, 0, r.stderr);
      const s = lastJson<SeedJson>(r);
      const file = demoCredentialsPath(t.dataDir);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { providerOrgId: string };
      assert.equal(saved.providerOrgId, s.orgId);
      // The demo's own 40 patients and the 3 seeded ones.
      assert.equal(await count(t, patientCount, [s.orgId]), 43);
      // Plans past draft went through the workflow: reviewed, by someone other than the author.
      assert.ok(
        (await count(
          t,
          `select count(*)::int as n from clinical.treatment_plans where organization_id = $1 and status <> 'draft'`,
          [s.orgId],
        )) > 0,
      );
      assert.equal(
        await count(
          t,
          `select count(*)::int as n from clinical.treatment_plans where organization_id = $1
              and status <> 'draft' and (reviewed_at is null or reviewer_id is null or reviewer_id = author_id)`,
          [s.orgId],
        ),
        0,
      );
    });
  });
}
