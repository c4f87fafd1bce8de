import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../test/helpers/db.ts';
import { asAttacker, buildSealedLog } from '../../../test/helpers/audit-log.ts';
import { parseCopyLine } from '../../platform/db/index.ts';
import { createOrganization } from '../tenancy/service.ts';
import { eventsInRange, eventsInRangeByQuery, leafDigestsInRange } from './events-source.ts';
import { eventLeafHash, leafText } from './leaf.ts';
import { record } from './record.ts';

const hostile = fc
  .array(
    fc.oneof(
      fc.constantFrom('\\', '\t', '\n', '\r', '\b', '\f', '\v', '\\N', '"', '\u0001', 'ü', '😀'),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join('').replaceAll('\u0000', ''));

const everyTx = ['1', '18446744073709551615'] as const;

// The sealer and verifier read events through COPY on PostgreSQL and through an ordinary query
// on PGlite; a leaf must not depend on which, or a chain sealed one way would fail the other.
for (const engine of availableEngines()) {
  describe(`events read for sealing (${engine})`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase({ engine });
    });
    after(async () => t.close());

    test('give the same rows and leaves as the plain query, for hostile content', async () => {
      const org = await createOrganization(t.db, { name: `Copy ${engine}`, type: 'provider' });
      const ctx = { orgId: org.id, actorType: 'user' as const, purpose: 'TREAT' };
      const samples = fc.sample(
        fc.record({
          agent: fc.option(hostile, { nil: undefined }),
          entityId: fc.option(hostile, { nil: undefined }),
          reason: fc.option(
            hostile.map((s) => s.slice(0, 100)),
            { nil: undefined },
          ),
          phi: fc.array(hostile, { maxLength: 3 }),
          meta: hostile,
          ip: fc.constantFrom(undefined, '10.0.0.1', '192.168.0.0/24', '::1', '2001:db8::7'),
        }),
        { numRuns: 60, seed: 4 },
      );
      await t.db.withContext(ctx, async (tx) => {
        for (const s of samples) {
          await record(tx, {
            action: 'R',
            eventType: 'copy.test',
            entityType: 'Patient',
            ...(s.entityId === undefined ? {} : { entityId: s.entityId }),
            ...(s.agent === undefined ? {} : { userAgent: s.agent }),
            ...(s.reason === undefined ? {} : { outcomeReason: s.reason }),
            ...(s.ip === undefined ? {} : { ip: s.ip }),
            phiFields: s.phi,
            metadata: { [s.meta]: s.meta, n: [1.5, null, true] },
          });
        }
      });
      const job = { name: 'test.copy', reason: 'compares the two ways of reading events' };
      const { fast, plain, digests } = await t.db.asSystem(job, async (tx) => {
        assert.equal(typeof tx.copyRows, engine === 'postgres' ? 'function' : 'undefined');
        return {
          fast: await eventsInRange(tx, org.id, ...everyTx),
          plain: await eventsInRangeByQuery(tx, org.id, ...everyTx),
          digests: await leafDigestsInRange(tx, org.id, ...everyTx),
        };
      });
      assert.deepEqual(
        digests,
        plain.map((r) => ({ id: r.id, month: r.month, hash: eventLeafHash(r) })),
      );
      // The id in another spelling selects the same rows; the read then keeps the column,
      // since only the server's own rendering gives the sealed leaf.
      const upper = await t.db.asSystem(job, (tx) =>
        leafDigestsInRange(tx, org.id.toUpperCase(), ...everyTx),
      );
      assert.deepEqual(upper, digests);
      assert.equal(fast.length, samples.length);
      assert.deepEqual(fast, plain);
      for (const [i, row] of fast.entries()) {
        const other = plain[i];
        assert.ok(other);
        assert.equal(leafText(row), leafText(other));
        assert.ok(eventLeafHash(row).equals(eventLeafHash(other)));
      }
    });

    test('give digests in id order whatever order the rows lie in on disk', async () => {
      // The bulk path reads without ORDER BY (no sort before the first row) and orders the
      // digests itself. Rewriting a row unchanged puts its new version after the others.
      const log = await buildSealedLog(t.db, `Disk order ${engine}`, 1, 12);
      const moved = [log.ids[0], log.ids[4], log.ids[5]];
      await asAttacker(t.db, async (tx) => {
        for (const id of moved)
          await tx.query('update audit.events set id = id where id = $1', [id]);
      });
      const job = { name: 'test.copy', reason: 'reads events in a rewritten order' };
      const { onDisk, digests, plain } = await t.db.asSystem(job, async (tx) => ({
        onDisk: (
          await tx.query<{ id: string }>(
            'select id from audit.events where organization_id = $1 order by ctid',
            [log.orgId],
          )
        ).rows.map((r) => Number(r.id)),
        digests: await leafDigestsInRange(tx, log.orgId, ...everyTx),
        plain: await eventsInRangeByQuery(tx, log.orgId, ...everyTx),
      }));
      if (engine === 'postgres') assert.notDeepEqual(onDisk, log.ids, 'the rows were moved');
      assert.deepEqual(
        digests.map((d) => d.id),
        log.ids,
      );
      assert.deepEqual(
        digests,
        plain.map((r) => ({ id: r.id, month: r.month, hash: eventLeafHash(r) })),
      );
    });

    if (engine === 'postgres') {
      test('copyRows binds its parameters, pipelines, and reports errors', async () => {
        const job = { name: 'test.copy', reason: 'exercises COPY reads' };
        await t.db.asSystem(job, async (tx) => {
          const copy = tx.copyRows;
          assert.ok(copy);
          const seen: (readonly (string | null)[])[] = [];
          const other: (readonly (string | null)[])[] = [];
          // Two reads queued back to back, each with its own parameters.
          const [a, b] = await Promise.all([
            copy(
              `select g, $1::text from generate_series(1, $2::int) g`,
              ["it's\t'; drop table x; --", '3'],
              (line) => seen.push(parseCopyLine(line)),
            ),
            copy(`select $1::text, null`, ['second'], (line) => other.push(parseCopyLine(line))),
          ]);
          assert.equal(a, 3);
          assert.equal(b, 1);
          assert.deepEqual(seen, [
            ['1', "it's\t'; drop table x; --"],
            ['2', "it's\t'; drop table x; --"],
            ['3', "it's\t'; drop table x; --"],
          ]);
          assert.deepEqual(other, [['second', null]]);
          await assert.rejects(() => copy('select $2::text', ['one'], () => undefined), /\$2/);
        });
        await assert.rejects(
          t.db.asSystem(job, async (tx) => {
            await tx.copyRows?.('select 1/0', [], () => undefined);
          }),
          /division by zero/,
        );
        // The connection is fine afterwards.
        const r = await t.db.asSystem(job, (tx) => tx.query<{ n: number }>('select 1 as n'));
        assert.equal(r.rows[0]?.n, 1);
      });
    }
  });
}
