import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keyStatus, rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { keyMiss, type Keyring } from '../../src/modules/crypto/keyring.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import type { Queryable, Tx } from '../../src/platform/db/index.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testCrypto } from '../helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import {
  createPatientTable,
  insertPatient,
  patientFields,
  patientRegistry,
  syntheticPatient,
} from '../helpers/phi-table.ts';

const table = 'test_phi.patients';

// A rewrap batch reads a table's rows, re-encrypts every old value of each row, and writes them
// back with one UPDATE that compares and swaps each column on its own. A value that another
// transaction rewrites in between must be kept as that transaction wrote it (and not counted),
// while the row's other values still move. Needs two connections at once, so PostgreSQL only.
const engines = availableEngines().filter((e) => e === 'postgres');
if (engines.length === 0) {
  test('rewrap compare-and-swap under a concurrent write', { skip: 'needs PostgreSQL' }, () => {});
}

for (const engine of engines) {
  describe(`rewrap keeps a value written during its batch (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    const crypto = testCrypto({ primaryTtlMs: 0 });
    const registry = patientRegistry();
    const ids: string[] = [];
    const as = <T>(fn: (tx: Tx) => Promise<T>) =>
      t.db.withContext({ orgId: a.orgId, actorType: 'user' }, fn);

    before(async () => {
      t = await createTestDatabase({ engine });
      a = await seedTenant(t.db, 'CAS');
      await createPatientTable(t.db);
      for (let i = 0; i < 3; i++) {
        ids.push(await as((tx) => insertPatient(tx, crypto.codec, a.orgId, syntheticPatient(i))));
      }
      await rotateDataKeys(
        { db: t.db, keyring: crypto.keyring, events: crypto.events, registry },
        a.orgId,
      );
    });
    after(async () => t.close());

    test('the concurrent value survives; the rest of its row moves to the new version', async () => {
      const [target, whole] = [...ids].sort() as [string, string];
      let wrote = false;
      let wholeVersion: string | undefined;
      // The rewrap's first key lookup is for the first row it read (the smallest id): at that
      // moment another transaction replaces that row's SSN.
      const writeMeanwhile = async () => {
        if (wrote) return;
        wrote = true;
        await as(async (tx) => {
          const s = await crypto.codec.encryptRow(
            tx,
            { orgId: a.orgId, table, rowId: target },
            { ssn_encrypted: '999-00-1234' },
          );
          const u = await tx.query(`update ${table} set ssn_encrypted = $2 where id = $1`, [
            target,
            s.ssn_encrypted,
          ]);
          assert.equal(u.rowCount, 1, 'the concurrent write changed the row');
          // The second row is rewritten whole, so the rewrap has nothing left to move in it.
          const all = await crypto.codec.encryptRow(
            tx,
            { orgId: a.orgId, table, rowId: whole },
            Object.fromEntries(patientFields.map((f) => [f, `rewritten ${f}`])),
          );
          const w = await tx.query<{ xmin: string }>(
            `update ${table} set ${patientFields.map((f, i) => `${f} = $${i + 2}`).join(', ')}
              where id = $1 returning xmin::text as xmin`,
            [whole, ...patientFields.map((f) => all[f])],
          );
          wholeVersion = w.rows[0]?.xmin;
        });
      };
      const real = crypto.keyring;
      const keyring = {
        cachedVersion: () => keyMiss,
        withVersion: async <T>(q: Queryable, orgId: string, v: number, fn: (k: Buffer) => T) => {
          await writeMeanwhile();
          return real.withVersion(q, orgId, v, fn);
        },
      } as unknown as Keyring;
      const deps = { db: t.db, keyring: crypto.keyring, events: crypto.events, registry };
      const old = (await keyStatus(deps, a.orgId)).find((k) => k.version === 1)?.values ?? 0;
      assert.ok(old >= ids.length * patientFields.length);
      const report = await rewrapValues(
        { db: t.db, keyring, events: crypto.events },
        { orgId: a.orgId, registry, settleMs: 0 },
      );
      assert.ok(wrote, 'the concurrent write happened during the batch');
      assert.equal(report.organizations[0]?.failed, 0);
      assert.equal(
        report.organizations[0]?.rewrapped,
        old - 1 - patientFields.length,
        'the values written meanwhile are neither overwritten nor counted',
      );
      const after = await t.db.asAdmin((tx) =>
        tx.query<{ xmin: string }>(`select xmin::text as xmin from ${table} where id = $1`, [
          whole,
        ]),
      );
      assert.ok(wholeVersion);
      assert.equal(
        after.rows[0]?.xmin,
        wholeVersion,
        'a row with nothing left to move is not written again (its triggers and ETag untouched)',
      );
      const row = await as(async (tx) => {
        const r = await tx.query<Record<string, Buffer | null>>(
          `select * from ${table} where id = $1`,
          [target],
        );
        const stored = r.rows[0] ?? {};
        for (const f of patientFields) {
          assert.equal(stored[f]?.readUInt32BE(1), 2, `${f} is under version 2`);
        }
        return crypto.codec.decryptRow(
          tx,
          { orgId: a.orgId, table, rowId: target },
          stored,
          patientFields,
        );
      });
      assert.equal(row.ssn_encrypted, '999-00-1234', 'the concurrent SSN is kept');
      const original = syntheticPatient(ids.indexOf(target));
      assert.equal(row.last_name_encrypted, original.last_name_encrypted);
      assert.equal(row.email_encrypted, original.email_encrypted);
      const status = await keyStatus(deps, a.orgId);
      assert.equal(status.find((k) => k.version === 1)?.values, 0, 'version 1 protects nothing');
    });
  });
}
