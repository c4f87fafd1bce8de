import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { patientIndexes } from '../../src/modules/clinical/encrypted-columns.ts';
import { createPatient, updatePatient } from '../../src/modules/clinical/patients-service.ts';
import { computeBlindIndex, nameDobValue } from '../../src/modules/crypto/blind-index.ts';
import { qualifiedColumn, type BlindIndexColumn } from '../../src/modules/crypto/registry.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import { loadConfig } from '../../src/platform/config.ts';
import type { Database, Tx } from '../../src/platform/db/index.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { openDatabase } from '../../src/platform/db/open.ts';
import { testCrypto, testMasterKeyBase64 } from '../helpers/crypto.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { markLegacyOrganization } from '../helpers/legacy-index.ts';

const rows = 600;
const kills = 6;
const vis = { fields: [], clinical: false };

// `ward keys reindex` is SIGKILLed at random points across runs; on PostgreSQL patients are
// renamed meanwhile, as clinicians would. Afterwards a final run must complete, every row's
// indexes must be exactly what the current rules compute from what the row holds (so no batch
// replayed after a kill wrote a stale index over a rename), and every patient must be found.
for (const engine of availableEngines()) {
  describe(`reindex survives SIGKILL (${engine})`, () => {
    let t: TestDatabase | undefined;
    let dataDir: string | undefined;
    let env: NodeJS.ProcessEnv;
    let orgId: string;
    const crypto = testCrypto({ primaryTtlMs: 0 });
    const open = async (): Promise<Database> =>
      t ? t.db : openDatabase(loadConfig({ WARD_DATA_DIR: dataDir }));
    const as = <T>(db: Database, fn: (tx: Tx) => Promise<T>) =>
      db.withContext({ orgId, actorType: 'system', purpose: 'TREAT' }, fn);
    const indexAt = (tx: Tx, index: BlindIndexColumn, v: string, n: number) =>
      crypto.keyring.withIndexKey(tx, orgId, qualifiedColumn(index), (key) =>
        computeBlindIndex(key, index.kind, v, index.bits, n),
      );
    /** Last names as the test wrote them last, by patient id. */
    const names = new Map<string, string>();

    before(async () => {
      if (engine === 'postgres') {
        t = await createTestDatabase({ engine });
        env = { DATABASE_URL: t.url };
      } else {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-reindex-kill-'));
        env = { WARD_DATA_DIR: dataDir, DATABASE_URL: '' };
      }
      const db = await open();
      if (!t) await migrate(db);
      orgId = (await createOrganization(db, { name: 'Reindex kill', type: 'provider' })).id;
      // Patients written as version 1 stored them: every name has a curly apostrophe, every
      // email a full-width letter, so every row has indexes to rewrite.
      for (let i = 0; i < rows; i += 100) {
        await as(db, async (tx) => {
          for (let j = i; j < i + 100; j++) {
            const lastName = `O\u2019Neil${j}`;
            const email = `\uFF50${j}@example.test`;
            const p = await createPatient(
              tx,
              crypto.codec,
              orgId,
              null,
              { mrn: `K-${j}`, firstName: 'Synthetic', lastName, dateOfBirth: '1970-01-01', email },
              vis,
            );
            names.set(p.value.id, lastName);
            await tx.query(
              'update clinical.patients set name_dob_bidx = $3, email_bidx = $4 where organization_id = $1 and id = $2',
              [
                orgId,
                p.value.id,
                await indexAt(tx, patientIndexes.nameDob, nameDobValue(lastName, '1970-01-01'), 1),
                await indexAt(tx, patientIndexes.email, email, 1),
              ],
            );
          }
        });
      }
      await markLegacyOrganization(db, orgId);
      if (!t) await db.close();
    });
    after(async () => {
      await t?.close();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    /** Renames a few random patients (PostgreSQL: while a reindex runs in another process). */
    async function renameSome(db: Database, round: number): Promise<void> {
      const ids = [...names.keys()];
      for (let n = 0; n < 5; n++) {
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        const lastName = `Mc\u2019Renamed${round}x${n}`;
        await as(db, async (tx) => {
          const v = await tx.query<{ version: number }>(
            'select version from clinical.patients where organization_id = $1 and id = $2',
            [orgId, id],
          );
          await updatePatient(tx, crypto.codec, orgId, id, v.rows[0]!.version, { lastName }, vis);
        });
        names.set(id, lastName);
      }
    }

    test('killed runs leave every index right; a final run completes', async () => {
      const childEnv = {
        ...process.env,
        ...env,
        WARD_MASTER_KEY: testMasterKeyBase64,
        // Every asSystem call is logged at info: the first reindex one says the run has begun
        // its work (starting a CLI process takes seconds on a busy machine, a pass only a few).
        WARD_LOG_LEVEL: 'info',
      };
      const run = (args: string[]) =>
        spawn(process.execPath, ['bin/ward.mjs', 'keys', 'reindex', ...args, '--json'], {
          env: childEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      let midPass = 0;
      for (let k = 0; k < kills; k++) {
        // 60 rows a second: a whole pass takes 10 s; each run is killed at a random point
        // between 0.3 and 1.8 s into its work, so the runs leave the pass at different rows
        // (and the final, unthrottled run finishes it).
        const child = run(['--batch', '5', '--rate', '60']);
        const exited = new Promise((resolve) => child.on('exit', resolve));
        let timer: NodeJS.Timeout | undefined;
        const killSoon = () => {
          timer ??= setTimeout(() => child.kill('SIGKILL'), 300 + Math.floor(Math.random() * 1500));
        };
        const watch = (d: Buffer) => {
          if (d.toString().includes('"job":"crypto.reindex"')) killSoon();
        };
        child.stdout.on('data', watch);
        child.stderr.on('data', watch);
        const fallback = setTimeout(killSoon, 60_000);
        if (t) {
          // Renames while the killed run works (its batches and these commits interleave).
          let done = false;
          void exited.then(() => (done = true));
          for (let round = 0; !done; round++) {
            await renameSome(t.db, k * 100 + round);
            await sleep(150);
          }
        }
        await exited;
        clearTimeout(timer);
        clearTimeout(fallback);
        // Where the killed run left the pass (read between runs: on PGlite the child held the
        // data directory until it died).
        const db = await open();
        try {
          const c = await db.asAdmin((tx) =>
            tx.query<{ cursor: string | null }>(
              `select max(reindex_cursor::text) as cursor from ward.blind_index_normalization
                where organization_id = $1 and reindex_to is not null`,
              [orgId],
            ),
          );
          if (c.rows[0]?.cursor) midPass++;
        } finally {
          if (!t) await db.close();
        }
      }
      assert.ok(midPass >= 2, `only ${midPass} run(s) were killed in the middle of their pass`);
      const final = spawn(process.execPath, ['bin/ward.mjs', 'keys', 'reindex', '--json'], {
        env: { ...childEnv, WARD_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      final.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise((resolve) => final.on('exit', resolve));
      assert.equal(code, 0, `final reindex failed: ${out}`);

      const db = await open();
      try {
        await as(db, async (tx) => {
          const r = await tx.query<{
            id: string;
            name_dob_bidx: Buffer;
            email_bidx: Buffer;
            last_name_encrypted: Buffer;
            email_encrypted: Buffer;
          }>(
            `select id, name_dob_bidx, email_bidx, last_name_encrypted, email_encrypted
               from clinical.patients where organization_id = $1`,
            [orgId],
          );
          assert.equal(r.rows.length, rows);
          for (const row of r.rows) {
            const d = await crypto.codec.decryptRow(
              tx,
              { orgId, table: 'clinical.patients', rowId: row.id },
              {
                last_name_encrypted: row.last_name_encrypted,
                email_encrypted: row.email_encrypted,
              },
              ['last_name_encrypted', 'email_encrypted'],
            );
            assert.equal(d.last_name_encrypted, names.get(row.id), 'the latest rename is kept');
            const name = nameDobValue(d.last_name_encrypted ?? '', '1970-01-01');
            assert.deepEqual(
              row.name_dob_bidx,
              await indexAt(tx, patientIndexes.nameDob, name, 2),
              `name index of ${row.id} is the current form of what the row holds`,
            );
            assert.deepEqual(
              row.email_bidx,
              await indexAt(tx, patientIndexes.email, d.email_encrypted ?? '', 2),
            );
          }
        });
        const state = await db.asAdmin((tx) =>
          tx.query<{ column_name: string; normalization: number; reindex_to: number | null }>(
            `select column_name, normalization, reindex_to from ward.blind_index_normalization
              where organization_id = $1 order by column_name`,
            [orgId],
          ),
        );
        assert.deepEqual(
          state.rows.map((s) => [s.column_name, s.normalization, s.reindex_to]),
          ['email_bidx', 'mrn_bidx', 'name_dob_bidx', 'phone_bidx', 'ssn_bidx'].map((c) => [
            `clinical.patients.${c}`,
            2,
            null,
          ]),
          'the job recorded its completion',
        );
        const events = await db.asAdmin((tx) =>
          tx.query(
            `select 1 from audit.events where organization_id = $1 and event_type = 'crypto.reindex_completed'`,
            [orgId],
          ),
        );
        assert.equal(events.rows.length, 1, 'completed once');
      } finally {
        if (!t) await db.close();
      }
    });
  });
}
