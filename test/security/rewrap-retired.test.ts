import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sealField } from '../../src/modules/crypto/field-format.ts';
import { keyStatus, retireKey, rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { availableEngines } from '../helpers/db.ts';
import { keyAdminFixture } from '../helpers/key-admin.ts';
import { insertPatient, syntheticPatient } from '../helpers/phi-table.ts';

const table = 'test_phi.patients';

// `retire` counts the values under a version without blocking writers, so a transaction that
// encrypted with it just before the rotation and commits just after the count leaves a value
// under a retired version. The keyring still opens it (nothing is lost) and the documented
// remedy is `ward keys rewrap`: a run over every organization must pick it up too, not only a
// run that names the organization.
for (const engine of availableEngines()) {
  describe(`rewrap moves a value that turned up under a retired version (${engine})`, () => {
    const k = keyAdminFixture(engine);
    const { crypto, registry, deps } = k;
    const as = k.as;
    let id: string;

    before(async () => {
      await k.open('RET');
      id = await as((tx) => insertPatient(tx, crypto.codec, k.orgId, syntheticPatient(1)));
      await rotateDataKeys(deps(), k.orgId);
      await rewrapValues(deps(), { registry, settleMs: 0 });
      await retireKey(deps(), k.orgId, 1);
    });
    after(() => k.close());

    test('`ward keys rewrap` without --org moves it', async () => {
      // The late writer's value, sealed under version 1 before the rotation reached it.
      await as(async (tx) => {
        const place = { orgId: k.orgId, table, column: 'ssn_encrypted', rowId: id };
        const late = await crypto.keyring.withVersion(tx, k.orgId, 1, (key) =>
          sealField(key, 1, place, Buffer.from('900-00-0001')),
        );
        await tx.query(`update ${table} set ssn_encrypted = $2 where id = $1`, [id, late]);
      });
      const before = await keyStatus(deps(), k.orgId);
      assert.equal(before.find((k) => k.version === 1)?.status, 'retired');
      assert.equal(before.find((k) => k.version === 1)?.values, 1);

      const report = await rewrapValues(deps(), { registry, settleMs: 0 });
      assert.deepEqual(
        report.organizations.map((o) => [o.orgId, o.rewrapped, o.failed]),
        [[k.orgId, 1, 0]],
      );
      const after = await keyStatus(deps(), k.orgId);
      assert.equal(after.find((k) => k.version === 1)?.values, 0);
      const ssn = await as(async (tx) => {
        const r = await tx.query<{ ssn_encrypted: Buffer }>(
          `select ssn_encrypted from ${table} where id = $1`,
          [id],
        );
        return crypto.codec.decrypt(
          tx,
          { orgId: k.orgId, table, column: 'ssn_encrypted', rowId: id },
          r.rows[0]!.ssn_encrypted,
        );
      });
      assert.equal(ssn, '900-00-0001');
    });
  });
}
