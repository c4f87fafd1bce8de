import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { record } from '../../src/modules/audit/record.ts';
import type { RequestContext } from '../../src/platform/db/index.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import { classify } from '../helpers/tenant-probe.ts';

// audit.event_patients (migration 0020) is how a patient's history finds the list and search
// pages that showed it. It is derived by a trigger from each event's metadata.patientIds: no
// request may write, change or remove it, a tenant sees only its own rows, and retention
// removes rows only once their month's events are gone.
for (const engine of availableEngines()) {
  describe(`derived patients of audit events (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    let b: TenantFixture;
    const p1 = randomUUID();
    const p2 = randomUUID();

    before(async () => {
      t = await createTestDatabase({ engine });
      a = await seedTenant(t.db, 'EP-A');
      b = await seedTenant(t.db, 'EP-B');
    });
    after(async () => t.close());

    const ctx = (f: TenantFixture): RequestContext => ({ orgId: f.orgId, actorType: 'system' });
    const rows = (f: TenantFixture) =>
      t.db.withContext(
        ctx(f),
        async (tx) =>
          (
            await tx.query<{ patient_id: string; event_id: number }>(
              'select patient_id, event_id from audit.event_patients order by patient_id',
            )
          ).rows,
      );

    test("an event's listed patients are copied in its own insert, junk skipped, tenants apart", async () => {
      const ev = await t.db.withContext(ctx(a), (tx) =>
        record(tx, {
          action: 'R',
          eventType: 'patient.list',
          metadata: { patientIds: [p1, 'not-a-uuid', p2.toUpperCase(), p1, 42] },
        }),
      );
      const mine = await rows(a);
      assert.deepEqual(
        mine.map((r) => [r.patient_id, r.event_id]),
        [p1, p2].sort().map((p) => [p, ev.id]),
      );
      assert.deepEqual(await rows(b), [], "B sees none of A's rows");
      // A rolled-back event leaves none.
      await assert.rejects(
        t.db.withContext(ctx(a), async (tx) => {
          await record(tx, {
            action: 'R',
            eventType: 'patient.list',
            metadata: { patientIds: [randomUUID()] },
          });
          throw new Error('rolled back');
        }),
      );
      assert.equal((await rows(a)).length, 2);
    });

    test('no request role writes, edits or deletes it; nobody edits it', async () => {
      for (const sql of [
        `insert into audit.event_patients values ('${a.orgId}', '${randomUUID()}', now(), 1)`,
        `update audit.event_patients set patient_id = '${randomUUID()}'`,
        `delete from audit.event_patients`,
      ]) {
        const refused = await t.db
          .withContext(ctx(a), (tx) => tx.query(sql))
          .then(
            () => 'allowed',
            (e: unknown) => classify(e).kind,
          );
        assert.notEqual(refused, 'allowed', sql);
      }
      await assert.rejects(
        t.db.asAdmin((tx) => tx.query(`update audit.event_patients set event_id = 0`)),
        /append-only/,
      );
      assert.equal((await rows(a)).length, 2);
    });

    test('retention removes rows only when their month is past retention and its events are dropped', async () => {
      const old = new Date(Date.UTC(new Date().getUTCFullYear() - 7, 0, 15));
      const month = `events_${old.getUTCFullYear()}_01`;
      await t.db.asAdmin(async (tx) => {
        await tx.query('select audit.ensure_partitions($1::date, 1)', [old.toISOString()]);
        await tx.query(
          `insert into audit.events (organization_id, occurred_at, action, event_type, metadata)
           values ($1, $2, 'R', 'patient.list', jsonb_build_object('patientIds', jsonb_build_array($3::text)))`,
          [a.orgId, old.toISOString(), p1],
        );
      });
      const count = async () =>
        (
          await t.db.asAdmin((tx) =>
            tx.query<{ n: number }>('select count(*)::int as n from audit.event_patients'),
          )
        ).rows[0]?.n;
      assert.equal(await count(), 3);
      const expire = () =>
        t.db.asSystem({ name: 'test.expire', reason: 'test' }, (tx) =>
          tx.query('select audit.expire_event_patients(6)'),
        );
      await expire();
      assert.equal(await count(), 3, 'the month still has its events');
      await t.db.asAdmin((tx) => tx.query(`drop table audit.${month}`));
      await expire();
      assert.equal(await count(), 2, 'the old row went with its month; the recent ones stay');
    });
  });
}
