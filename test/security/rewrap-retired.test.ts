import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sealField } from '../../src/modules/crypto/field-format.ts';
import {
  keyStatus,
  retireKey,
  rotateDataKeys,
  type KeyAdminDeps,
} from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import type { Tx } from '../../src/platform/db/index.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testCrypto } from '../helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import {
  createPatientTable,
  insertPatient,
  patientRegistry,
  syntheticPatient,
} from '../helpers/phi-table.ts';

const table = 'test_phi.patients';

// `retire` counts the values under a version without blocking writers, so a transaction that
// encrypted with it just before the rotation and commits just after the count leaves a value
// under a retired version. The keyring still opens it (nothing is lost) and the documented
// remedy is `ward keys rewrap`: a run over every organization must pick it up too, not only a
// run that names the organization.
for (const engine of availableEngines()) {
  describe(`rewrap moves a value that turned up under a retired version (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    const crypto = testCrypto({ primaryTtlMs: 0 });
    const registry = patientRegistry();
    const deps = (): KeyAdminDeps => ({
      db: t.db,
      keyring: crypto.keyring,
      events: crypto.events,
      registry,
    });
    const as = <T>(fn: (tx: Tx) => Promise<T>) =>
      t.db.withContext({ orgId: a.orgId, actorType: 'user' }, fn);
    let id: string;

    before(async () => {
      t = await createTestDatabase({ engine });
      a = await seedTenant(t.db, 'RET');
      await createPatientTable(t.db);
      id = await as((tx) => insertPatient(tx, crypto.codec, a.orgId, syntheticPatient(1)));
      await rotateDataKeys(deps(), a.orgId);
      await rewrapValues(deps(), { registry, settleMs: 0 });
      await retireKey(deps(), a.orgId, 1);
    });
    after(async () => t.close());

    test('`ward keys rewrap` without --org moves it', async () => {
      // The late writer's value, sealed under version 1 before the rotation reached it.
      await as(async (tx) => {
        const place = { orgId: a.orgId, table, column: 'ssn_encrypted', rowId: id };
        const late = await crypto.keyring.withVersion(tx, a.orgId, 1, (key) =>
          sealField(key, 1, place, Buffer.from('900-00-0001')),
        );
        await tx.query(`update ${table} set ssn_encrypted = $2 where id = $1`, [id, late]);
      });
      const before = await keyStatus(deps(), a.orgId);
      assert.equal(before.find((k) => k.version === 1)?.status, 'retired');
      assert.equal(before.find((k) => k.version === 1)?.values, 1);

      const report = await rewrapValues(deps(), { registry, settleMs: 0 });
      assert.deepEqual(
        report.organizations.map((o) => [o.orgId, o.rewrapped, o.failed]),
        [[a.orgId, 1, 0]],
      );
      const after = await keyStatus(deps(), a.orgId);
      assert.equal(after.find((k) => k.version === 1)?.values, 0);
      const ssn = await as(async (tx) => {
        const r = await tx.query<{ ssn_encrypted: Buffer }>(
          `select ssn_encrypted from ${table} where id = $1`,
          [id],
        );
        return crypto.codec.decrypt(
          tx,
          { orgId: a.orgId, table, column: 'ssn_encrypted', rowId: id },
          r.rows[0]!.ssn_encrypted,
        );
      });
      assert.equal(ssn, '900-00-0001');
    });
  });
}
