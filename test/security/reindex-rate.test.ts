import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { reindexBlindIndexes } from '../../src/modules/crypto/reindex.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import { testCrypto } from '../helpers/crypto.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { markLegacyOrganization, registerPatientAt } from '../helpers/legacy-index.ts';

// `ward keys reindex --rate R` promises at most R rows visited per second, to leave room for
// production traffic: a batch larger than R must not go out in one burst.
const engine = availableEngines()[0]!;

describe(`reindex --rate bounds the rows visited per second (${engine})`, () => {
  let t: TestDatabase;
  let orgId: string;
  const crypto = testCrypto();
  const rows = 5;

  before(async () => {
    t = await createTestDatabase({ engine });
    orgId = (await createOrganization(t.db, { name: 'Reindex rate', type: 'provider' })).id;
    for (let i = 0; i < rows; i++)
      await registerPatientAt(
        t.db,
        crypto,
        orgId,
        { mrn: `RT-${i}`, lastName: `O\u2019Rate${i}`, dateOfBirth: '1980-01-01' },
        1,
      );
    await markLegacyOrganization(t.db, orgId);
  });
  after(async () => t.close());

  test('no burst above the rate, even with a larger batch', async () => {
    const rate = 2;
    const seen: { at: number; done: number }[] = [];
    const started = Date.now();
    const report = await reindexBlindIndexes(
      { db: t.db, keyring: crypto.keyring, events: crypto.events },
      {
        orgId,
        batchSize: 1000,
        maxRowsPerSecond: rate,
        onProgress: (p) => seen.push({ at: Date.now() - started, done: p.done }),
      },
    );
    assert.equal(report.organizations[0]?.scanned, rows);
    assert.equal(report.organizations[0]?.reindexed, rows);
    assert.ok(seen.length >= Math.ceil(rows / rate), 'cut into batches of at most the rate');
    for (const s of seen) {
      // Within the first second at most one second's worth; after that, the average.
      const allowed = rate * (Math.floor(s.at / 1000) + 1);
      assert.ok(s.done <= allowed, `${s.done} rows visited after ${s.at} ms at --rate ${rate}`);
    }
  });
});
