import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { availableEngines } from '../helpers/db.ts';
import { keyAdminFixture } from '../helpers/key-admin.ts';
import { insertPatient, patientFields, syntheticPatient } from '../helpers/phi-table.ts';

// `ward keys rewrap --rate V` promises at most V values rewritten per second, to leave room for
// production traffic. A batch (default 1000 values) larger than V must not go out in one burst.
const engine = availableEngines()[0]!;

describe(`rewrap --rate bounds the values rewritten per second (${engine})`, () => {
  const k = keyAdminFixture(engine);
  const { crypto, registry, deps } = k;
  const rows = 4;

  before(async () => {
    await k.open('RATE');
    await k.as(async (tx) => {
      for (let i = 0; i < rows; i++)
        await insertPatient(tx, crypto.codec, k.orgId, syntheticPatient(i));
    });
    await rotateDataKeys(deps(), k.orgId);
  });
  after(() => k.close());

  test('no burst above the rate, even with a larger batch', async () => {
    const rate = 2 * patientFields.length; // two rows' worth per second
    const seen: { at: number; done: number }[] = [];
    const started = Date.now();
    const report = await rewrapValues(deps(), {
      orgId: k.orgId,
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
