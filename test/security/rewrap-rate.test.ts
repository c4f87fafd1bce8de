import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rotateDataKeys, type KeyAdminDeps } from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
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

// `ward keys rewrap --rate V` promises at most V values rewritten per second, to leave room for
// production traffic. A batch (default 1000 values) larger than V must not go out in one burst.
const engine = availableEngines()[0]!;

describe(`rewrap --rate bounds the values rewritten per second (${engine})`, () => {
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
  const rows = 4;

  before(async () => {
    t = await createTestDatabase({ engine });
    a = await seedTenant(t.db, 'RATE');
    await createPatientTable(t.db);
    await t.db.withContext({ orgId: a.orgId, actorType: 'user' }, async (tx) => {
      for (let i = 0; i < rows; i++)
        await insertPatient(tx, crypto.codec, a.orgId, syntheticPatient(i));
    });
    await rotateDataKeys(deps(), a.orgId);
  });
  after(async () => t.close());

  test('no burst above the rate, even with a larger batch', async () => {
    const rate = 2 * patientFields.length; // two rows' worth per second
    const seen: { at: number; done: number }[] = [];
    const started = Date.now();
    const report = await rewrapValues(deps(), {
      orgId: a.orgId,
      registry,
      settleMs: 0,
      batchSize: 1000,
      maxValuesPerSecond: rate,
      onProgress: (p) => seen.push({ at: Date.now() - started, done: p.done }),
    });
    assert.ok((report.organizations[0]?.rewrapped ?? 0) >= rows * patientFields.length);
    for (const s of seen) {
      // Within the first second at most one second's worth; after that, the average.
      const allowed = rate * (Math.floor(s.at / 1000) + 1);
      assert.ok(s.done <= allowed, `${s.done} values rewritten after ${s.at} ms at --rate ${rate}`);
    }
  });
});
