import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exportLatestCheckpoint } from '../../src/modules/audit/checkpoint-export.ts';
import { checkpointHash, checkpointPayload } from '../../src/modules/audit/checkpoint-format.ts';
import { checkpointLeaves, listCheckpoints } from '../../src/modules/audit/checkpoints-repo.ts';
import { eventsInRangeByQuery } from '../../src/modules/audit/events-source.ts';
import { eventLeafHash } from '../../src/modules/audit/leaf.ts';
import { signerFromSeed } from '../../src/modules/audit/signer.ts';
import { verifyAuditLog, type VerifyReport } from '../../src/modules/audit/verify.ts';
import type { Database } from '../../src/platform/db/index.ts';
import { asAttacker, buildSealedLog, type SealedLog } from '../helpers/audit-log.ts';
import { availableEngines, createTestDatabase } from '../helpers/db.ts';
import { fixtureSigner } from '../helpers/fixtures.ts';

// Every kind of tampering the issue names, done the way an attacker with superuser rights
// would (triggers disabled), must be caught by verify, which must also say where.
const trusted = [{ keyId: fixtureSigner.keyId, publicKey: fixtureSigner.publicKey }];

async function scenario(
  engine: 'pglite' | 'postgres',
  tamper: (db: Database, log: SealedLog) => Promise<void>,
  verifyOpts: (db: Database, log: SealedLog) => Promise<object> = () => Promise.resolve({}),
): Promise<{ report: VerifyReport; log: SealedLog }> {
  const t = await createTestDatabase({ engine });
  try {
    const log = await buildSealedLog(t.db, 'T');
    const clean = await verifyAuditLog(t.db, { trustedKeys: trusted });
    assert.ok(clean.ok, 'the untouched log verifies');
    const extra = await verifyOpts(t.db, log);
    await tamper(t.db, log);
    const report = await verifyAuditLog(t.db, { trustedKeys: trusted, ...extra });
    return { report, log };
  } finally {
    await t.close();
  }
}

function failureOf(report: VerifyReport, orgId: string) {
  assert.equal(report.ok, false, 'verify must fail');
  const f = report.chains.find((c) => c.orgId === orgId)?.failure;
  assert.ok(f, 'the tampered chain reports a failure');
  return f;
}

for (const engine of availableEngines()) {
  describe(`audit tampering is detected (${engine})`, () => {
    test('a modified field is named by event', async () => {
      let target = 0;
      const { report, log } = await scenario(engine, async (db, l) => {
        target = l.ids[7]!;
        await asAttacker(db, (tx) =>
          tx.query(`update audit.events set phi_fields = '{}', patient_id = null where id = $1`, [
            target,
          ]),
        );
      });
      const f = failureOf(report, log.orgId);
      assert.equal(f.kind, 'modified');
      assert.equal(f.eventId, target);
      assert.equal(f.seq, 2);
    });

    test('altered leaf data stored with a checkpoint is caught', async () => {
      // The verifier compares events with the stored leaf hashes and ids; these must in turn
      // give the signed root, or an attacker could rewrite both an event and its stored hash.
      const { report, log } = await scenario(engine, async (db, l) => {
        await asAttacker(db, (tx) =>
          tx.query(
            `update audit.checkpoints
                set leaf_hashes = overlay(leaf_hashes placing sha256('forged'::bytea) from 1 for 32)
              where organization_id = $1 and seq = 1`,
            [l.orgId],
          ),
        );
      });
      const f = failureOf(report, log.orgId);
      assert.equal(f.kind, 'checkpoint-modified');
      assert.equal(f.seq, 1);
    });

    test('an event altered together with its stored leaf hash fails the signed root', async () => {
      const { report, log } = await scenario(engine, async (db, l) => {
        const target = l.ids[7]!;
        await asAttacker(db, async (tx) => {
          await tx.query(`update audit.events set outcome_reason = 'forged' where id = $1`, [
            target,
          ]);
          // The attacker recomputes the altered event's leaf hash and stores it in place.
          const rows = await eventsInRangeByQuery(tx, l.orgId, '1', '18446744073709551615');
          const row = rows.find((r) => r.id === target)!;
          for (const c of await listCheckpoints(tx, l.orgId)) {
            const at = (await checkpointLeaves(tx, l.orgId, c.seq)).eventIds.indexOf(target);
            if (at < 0) continue;
            await tx.query(
              `update audit.checkpoints
                  set leaf_hashes = overlay(leaf_hashes placing $3 from $4 for 32)
                where organization_id = $1 and seq = $2`,
              [l.orgId, c.seq, eventLeafHash(row), 32 * at + 1],
            );
          }
        });
      });
      const f = failureOf(report, log.orgId);
      assert.equal(f.kind, 'checkpoint-modified');
      assert.equal(f.seq, 2);
    });

    test('a deleted event is named', async () => {
      let target = 0;
      const { report, log } = await scenario(engine, async (db, l) => {
        target = l.ids[3]!;
        await asAttacker(db, (tx) => tx.query('delete from audit.events where id = $1', [target]));
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.eventId, f.seq], ['deleted', target, 1]);
    });

    test('a forged event inserted into a sealed range is named', async () => {
      let forged = 0;
      const { report, log } = await scenario(engine, async (db, l) => {
        const r = (await asAttacker(db, (tx) =>
          tx.query<{ id: number }>(
            `insert into audit.events (organization_id, id, occurred_at, tx_id, actor_type, action, event_type, metadata)
             select organization_id, nextval('audit.events_id_seq'), occurred_at, tx_id, actor_type, 'D', 'test.forged', '{}'
               from audit.events where id = $1 returning id`,
            [l.ids[6]],
          ),
        )) as { rows: { id: number }[] };
        forged = r.rows[0]!.id;
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.eventId, f.seq], ['inserted', forged, 2]);
    });

    test('reordered events (ids swapped) are named', async () => {
      let first = 0;
      const { report, log } = await scenario(engine, async (db, l) => {
        const [x, y] = [l.ids[10]!, l.ids[12]!];
        first = x;
        await asAttacker(db, async (tx) => {
          await tx.query('update audit.events set id = -1 where id = $1', [x]);
          await tx.query('update audit.events set id = $1 where id = $2', [x, y]);
          await tx.query('update audit.events set id = $1 where id = -1', [y]);
        });
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.eventId, f.seq], ['reordered', first, 3]);
    });

    test('a truncated tail is caught against an exported checkpoint', async () => {
      const { report, log } = await scenario(
        engine,
        async (db, l) => {
          await asAttacker(db, async (tx) => {
            const last = await tx.query<{ tx_from: string }>(
              `select tx_from::text from audit.checkpoints where organization_id = $1 order by seq desc limit 1`,
              [l.orgId],
            );
            await tx.query(
              'delete from audit.events where organization_id = $1 and tx_id >= $2::xid8',
              [l.orgId, last.rows[0]!.tx_from],
            );
            await tx.query(
              'delete from audit.checkpoints where organization_id = $1 and seq = (select max(seq) from audit.checkpoints where organization_id = $1)',
              [l.orgId],
            );
          });
        },
        async (db, l) => ({ anchor: await exportLatestCheckpoint(db, l.orgId) }),
      );
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.seq], ['truncated', 3]);
    });

    test('deleting the newest sealed events without their checkpoint is caught even without an anchor', async () => {
      let target = 0;
      const { report, log } = await scenario(engine, async (db, l) => {
        target = l.ids.at(-1)!;
        await asAttacker(db, (tx) => tx.query('delete from audit.events where id = $1', [target]));
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.eventId], ['deleted', target]);
    });

    test('a replaced checkpoint (recomputed root and hash) fails its signature', async () => {
      const { report, log } = await scenario(engine, async (db, l) => {
        await asAttacker(db, async (tx) => {
          const [c] = (await listCheckpoints(tx, l.orgId)).filter((x) => x.seq === 2);
          const forged = { ...c!, root: Buffer.alloc(32, 7) };
          await tx.query(
            'update audit.checkpoints set root = $1, hash = $2 where organization_id = $3 and seq = 2',
            [forged.root, checkpointHash(checkpointPayload(forged)), l.orgId],
          );
        });
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.seq], ['bad-signature', 2]);
    });

    test('a checkpoint re-signed with a key verify does not trust is refused', async () => {
      const rogue = signerFromSeed(Buffer.alloc(32, 9));
      const { report, log } = await scenario(engine, async (db, l) => {
        await asAttacker(db, async (tx) => {
          const [c] = (await listCheckpoints(tx, l.orgId)).filter((x) => x.seq === 1);
          const forged = { ...c!, keyId: rogue.keyId };
          const payload = checkpointPayload(forged);
          await tx.query(
            'update audit.checkpoints set key_id = $1, hash = $2, signature = $3 where organization_id = $4 and seq = 1',
            [rogue.keyId, checkpointHash(payload), rogue.sign(payload), l.orgId],
          );
        });
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.seq], ['untrusted-key', 1]);
    });

    test('a deleted middle checkpoint breaks the chain', async () => {
      const { report, log } = await scenario(engine, async (db, l) => {
        await asAttacker(db, (tx) =>
          tx.query('delete from audit.checkpoints where organization_id = $1 and seq = 2', [
            l.orgId,
          ]),
        );
      });
      const f = failureOf(report, log.orgId);
      assert.deepEqual([f.kind, f.seq], ['chain-broken', 2]);
    });
  });
}
