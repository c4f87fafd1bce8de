import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { fixtureSigner } from '../../../test/helpers/fixtures.ts';
import { listCheckpoints } from './checkpoints-repo.ts';
import { record } from './record.ts';
import { seal } from './sealer.ts';
import { createOrganization } from '../tenancy/service.ts';

describe('sealer batching', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.close());

  test('batches respect the cap but never split one transaction', async () => {
    const org = await createOrganization(t.db, { name: 'Batches', type: 'provider' });
    const ctx = { orgId: org.id, actorType: 'user' as const };
    const sizes = [3, 12, 2, 2, 2];
    for (const n of sizes) {
      await t.db.withContext(ctx, async (tx) => {
        for (let i = 0; i < n; i++) await record(tx, { action: 'R', eventType: 'batch.test' });
      });
    }
    const r = await seal(t.db, fixtureSigner, { maxBatch: 5 });
    assert.equal(r.events, 21);
    const cps = await t.db.asAdmin((tx) => listCheckpoints(tx, org.id));
    // 3 (next tx would exceed 5) | 12 (one transaction, over the cap) | 2+2 | 2
    assert.deepEqual(
      cps.map((c) => c.size),
      [3, 12, 4, 2],
    );
    assert.equal((await seal(t.db, fixtureSigner, { maxBatch: 5 })).events, 0);
  });
});
