import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/platform/config.ts';
import type { Database } from '../../src/platform/db/index.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { openDatabase } from '../../src/platform/db/open.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testCrypto, testMasterKeyBase64 } from '../helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';

const tasks = 900;
const diagnoses = 600;
// Every third task was closed with notes: a table with two legacy columns.
const notes = tasks / 3;
const total = tasks + notes + diagnoses;

// `ward keys rewrap` encrypting legacy plaintext (free text stored before migration 0022) is
// SIGKILLed part-way, several times; a final run completes, and every value then decrypts to
// its original: none lost, none duplicated, no plaintext left.
for (const engine of availableEngines()) {
  describe(`legacy plaintext encryption survives SIGKILL (${engine})`, () => {
    let t: TestDatabase | undefined;
    let dataDir: string | undefined;
    let env: NodeJS.ProcessEnv;
    let a: TenantFixture;
    const crypto = testCrypto({ primaryTtlMs: 0 });
    const open = async (): Promise<Database> =>
      t ? t.db : openDatabase(loadConfig({ WARD_DATA_DIR: dataDir }));
    const remaining = async (db: Database): Promise<number> => {
      const r = await db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          `select ((select count(*) from ward.review_tasks where organization_id = $1 and summary is not null)
                + (select count(*) from ward.review_tasks where organization_id = $1 and notes is not null)
                + (select count(*) from clinical.diagnoses where organization_id = $1 and evidence is not null))::int
                  as n`,
          [a.orgId],
        ),
      );
      return r.rows[0]?.n ?? 0;
    };

    before(async () => {
      if (engine === 'postgres') {
        t = await createTestDatabase({ engine });
        env = { DATABASE_URL: t.url };
      } else {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-legacy-kill-'));
        env = { WARD_DATA_DIR: dataDir, DATABASE_URL: '' };
      }
      const db = await open();
      if (!t) await migrate(db);
      a = await seedTenant(db, 'LK');
      // As an upgrade to 0022 leaves them: free text in the plaintext columns.
      await db.asAdmin(async (tx) => {
        await tx.query(
          `insert into ward.review_tasks (organization_id, kind, subject_id, summary, status, resolution,
                                          notes, closed_at)
           select $1, 'break_glass_review', gen_random_uuid(), 'legacy summary ' || g,
                  case when g % 3 = 0 then 'closed' else 'open' end,
                  case when g % 3 = 0 then 'appropriate' end,
                  case when g % 3 = 0 then 'legacy notes ' || g end,
                  case when g % 3 = 0 then now() end
             from generate_series(0, $2 - 1) g`,
          [a.orgId, tasks],
        );
        await tx.query(
          `insert into clinical.diagnoses (organization_id, case_id, patient_id, icd10_version, icd10_code,
                                           source, evidence)
           select c.organization_id, c.id, c.patient_id, '2026', 'R51.9', 'clinician',
                  jsonb_build_object('n', g, 'note', 'legacy note ' || g)
             from (select * from clinical.medical_cases where organization_id = $1 limit 1) c,
                  generate_series(0, $2 - 1) g`,
          [a.orgId, diagnoses],
        );
      });
      assert.equal(await remaining(db), total);
      if (!t) await db.close();
    });
    after(async () => {
      await t?.close();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const childEnv = () => ({
      ...process.env,
      ...env,
      WARD_MASTER_KEY: testMasterKeyBase64,
      WARD_LOG_LEVEL: 'silent',
    });
    const cli = (args: string[], stdout: 'ignore' | 'pipe' = 'ignore'): ChildProcess =>
      spawn(process.execPath, ['bin/ward.mjs', ...args], {
        env: childEnv(),
        stdio: ['ignore', stdout, 'inherit'],
      });
    const exited = (child: ChildProcess) =>
      new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const output = async (child: ChildProcess) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const code = await exited(child);
      return { code, out };
    };

    test('killed runs lose nothing; a final run encrypts every value; keys status shows it', async () => {
      const status = await output(cli(['keys', 'status', '--org', a.orgId, '--json'], 'pipe'));
      assert.equal(status.code, 0, status.out);
      assert.deepEqual((JSON.parse(status.out) as { plaintext: unknown }).plaintext, [
        { orgId: a.orgId, version: 0, values: total },
      ]);
      // Throttled, so that each run is killed long before it could finish.
      const rewrap = [
        'keys',
        'rewrap',
        '--org',
        a.orgId,
        '--batch',
        '25',
        '--rate',
        '150',
        '--json',
      ];
      if (t) {
        // On PostgreSQL the test watches the job's progress and kills it right after a batch
        // has committed: each kill lands part-way, with work behind and ahead of it.
        let left = total;
        for (let k = 0; k < 3; k++) {
          const child = cli(rewrap);
          const done = exited(child);
          let ended = false;
          void done.then(() => (ended = true));
          while (!ended && (await remaining(t.db)) === left) await sleep(25);
          child.kill('SIGKILL');
          await done;
          const now = await remaining(t.db);
          assert.ok(now < left, `run ${k} made progress before it was killed`);
          assert.ok(now > 0, `run ${k} was killed part-way`);
          left = now;
        }
      } else {
        // The embedded database cannot be watched while a child holds it: kill at random times.
        for (let k = 0; k < 3; k++) {
          const child = cli(rewrap);
          const timer = setTimeout(() => child.kill('SIGKILL'), 2000 + Math.random() * 6000);
          await exited(child);
          clearTimeout(timer);
        }
      }
      const final = await output(cli(['keys', 'rewrap', '--org', a.orgId, '--json'], 'pipe'));
      assert.equal(final.code, 0, `final rewrap failed: ${final.out}`);

      const db = await open();
      try {
        assert.equal(await remaining(db), 0, 'no plaintext is left');
        const seen = await db.withContext({ orgId: a.orgId, actorType: 'system' }, async (tx) => {
          const summaries: string[] = [];
          const notesSeen: string[] = [];
          const r = await tx.query<{ id: string; s: Buffer; n: Buffer | null }>(
            `select id, summary_encrypted as s, notes_encrypted as n from ward.review_tasks
              where organization_id = $1 and summary_encrypted is not null`,
            [a.orgId],
          );
          for (const row of r.rows) {
            const place = { orgId: a.orgId, table: 'ward.review_tasks', rowId: row.id };
            const text = await crypto.codec.decryptRow(
              tx,
              place,
              { summary_encrypted: row.s, notes_encrypted: row.n },
              ['summary_encrypted', 'notes_encrypted'],
            );
            if (text.summary_encrypted?.startsWith('legacy summary '))
              summaries.push(text.summary_encrypted);
            if (text.notes_encrypted) notesSeen.push(text.notes_encrypted);
          }
          const d = await tx.query<{ id: string; e: Buffer }>(
            `select id, evidence_encrypted as e from clinical.diagnoses
              where organization_id = $1 and icd10_code = 'R51.9' and source = 'clinician'`,
            [a.orgId],
          );
          const ns: number[] = [];
          for (const row of d.rows) {
            const text = await crypto.codec.decrypt(
              tx,
              {
                orgId: a.orgId,
                table: 'clinical.diagnoses',
                column: 'evidence_encrypted',
                rowId: row.id,
              },
              row.e,
            );
            const ev = JSON.parse(text) as { n: number; note: string };
            assert.equal(ev.note, `legacy note ${ev.n}`);
            ns.push(ev.n);
          }
          return { summaries, notes: notesSeen, ns };
        });
        const sorted = (xs: string[]) => [...xs].sort();
        assert.deepEqual(
          sorted(seen.summaries),
          sorted([...Array(tasks).keys()].map((g) => `legacy summary ${g}`)),
        );
        assert.deepEqual(
          sorted(seen.notes),
          sorted(
            [...Array(tasks).keys()].filter((g) => g % 3 === 0).map((g) => `legacy notes ${g}`),
          ),
        );
        assert.deepEqual(
          seen.ns.sort((x, y) => x - y),
          [...Array(diagnoses).keys()],
          'no diagnosis lost or duplicated',
        );
        const done = await db.asSystem(
          { name: 'test', reason: 'checks completion', orgId: a.orgId },
          (tx) =>
            tx.query<{ c: Date | null }>(
              'select rewrap_completed_at as c from ward.encryption_keys where organization_id = $1 and version = 1',
              [a.orgId],
            ),
        );
        assert.ok(done.rows[0]?.c, 'the job recorded its completion');
      } finally {
        if (!t) await db.close();
      }
    });
  });
}
