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
    // The horizon is cluster-wide: on a shared server, wait until no older transaction (another
    // test's) holds it below these events, or the batches would be cut differently.
    for (let waited = 0; ; waited += 50) {
      const h = await t.db.asAdmin((tx) =>
        tx.query<{ past: boolean }>(
          `select least(pg_snapshot_xmin(pg_current_snapshot()), pg_current_xact_id())
                  > (select max(tx_id) from audit.events where organization_id = $1) as past`,
          [org.id],
        ),
      );
      if (h.rows[0]?.past === true) break;
      assert.ok(waited < 20_000, 'another transaction held the seal horizon for 20 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
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
