import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { checkpointLeaves, listCheckpoints } from '../../src/modules/audit/checkpoints-repo.ts';
import { record } from '../../src/modules/audit/record.ts';
import { seal } from '../../src/modules/audit/sealer.ts';
import { verifyAuditLog } from '../../src/modules/audit/verify.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import { sealUntilCovered } from '../helpers/audit.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { fixtureSigner } from '../helpers/fixtures.ts';

// Events committed while the sealer runs must be neither lost nor sealed twice. This needs
// real concurrent connections, so it runs on the PostgreSQL server only.
for (const engine of availableEngines().filter((e) => e === 'postgres')) {
  describe(`sealing under concurrent writers (${engine})`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase({ engine });
    });
    after(async () => t.close());

    test('every committed event is sealed exactly once; rolled-back ones never', async () => {
      const orgs = await Promise.all(
        [1, 2, 3].map((i) => createOrganization(t.db, { name: `Busy ${i}`, type: 'provider' })),
      );
      const committed = new Set<number>();
      const rolledBack = new Set<number>();
      let writing = true;
      const writer = async (w: number) => {
        for (let i = 0; i < 40; i++) {
          const org = orgs[(w + i) % orgs.length]!;
          const abort = i % 7 === 3;
          const ids: number[] = [];
          try {
            await t.db.withContext({ orgId: org.id, actorType: 'user' }, async (tx) => {
              for (let k = 0; k < 1 + (i % 3); k++) {
                ids.push((await record(tx, { action: 'R', eventType: 'load.read' })).id);
                // Some transactions stay open across a sealing pass.
                if ((w + i) % 5 === 0) await sleep(15);
              }
              if (abort) throw new Error('abort');
            });
            ids.forEach((id) => committed.add(id));
          } catch {
            ids.forEach((id) => rolledBack.add(id));
          }
        }
      };
      const sealer = async () => {
        while (writing) {
          await seal(t.db, fixtureSigner, { maxBatch: 25 });
          await sleep(5);
        }
      };
      const running = sealer();
      await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
      writing = false;
      await running;
      await sealUntilCovered(
        t.db,
        fixtureSigner,
        orgs.map((o) => o.id),
      );

      const sealed = new Map<number, number>();
      await t.db.asAdmin(async (tx) => {
        for (const org of orgs) {
          for (const c of await listCheckpoints(tx, org.id)) {
            for (const id of (await checkpointLeaves(tx, org.id, c.seq)).eventIds) {
              sealed.set(id, (sealed.get(id) ?? 0) + 1);
            }
          }
        }
      });
      const twice = [...sealed].filter(([, n]) => n > 1).map(([id]) => id);
      assert.deepEqual(twice, [], 'events sealed twice');
      const lost = [...committed].filter((id) => !sealed.has(id));
      assert.deepEqual(lost, [], 'committed events never sealed');
      const ghosts = [...rolledBack].filter((id) => sealed.has(id));
      assert.deepEqual(ghosts, [], 'rolled-back events sealed');
      assert.ok(committed.size > 200 && rolledBack.size > 0);

      const report = await verifyAuditLog(t.db, {
        trustedKeys: [{ keyId: fixtureSigner.keyId, publicKey: fixtureSigner.publicKey }],
      });
      assert.ok(report.ok, JSON.stringify(report.chains.find((c) => c.failure)?.failure));
    });
  });
}
