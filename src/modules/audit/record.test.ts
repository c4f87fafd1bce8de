import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pgCode } from '../../platform/errors.ts';
import type { Tx } from '../../platform/db/index.ts';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../test/helpers/db.ts';
import { seedTenant, type TenantFixture } from '../../../test/helpers/fixtures.ts';
import { record, recordAndCommit, recordDetached, withFailureAudit } from './record.ts';
import { recordSystemAccess } from './system-recorder.ts';
import { platformOrgId } from './vocabulary.ts';

for (const engine of availableEngines()) {
  describe(`audit record and immutability (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    const patientId = '6f1d2c1e-8a51-4c43-9a43-5b2f3c1d0e01';
    before(async () => {
      t = await createTestDatabase({ engine });
      t.db.onSystemAccess(recordSystemAccess);
      a = await seedTenant(t.db, 'R');
    });
    after(async () => t.close());

    const ctx = () => ({
      orgId: a.orgId,
      userId: a.doctorId,
      actorType: 'user' as const,
      purpose: 'TREAT',
      requestId: 'req-record-test',
    });
    const countFor = async (eventType: string) =>
      (
        await t.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            'select count(*)::int as n from audit.events where event_type = $1',
            [eventType],
          ),
        )
      ).rows[0]?.n;

    test('record writes in the caller transaction and takes who/purpose/request from the context', async () => {
      const { id } = await t.db.withContext(ctx(), (tx) =>
        record(tx, {
          action: 'R',
          eventType: 'patient.read',
          entityType: 'Patient',
          entityId: patientId,
          patientId,
          phiFields: ['ssn', 'date_of_birth'],
          ip: '10.0.0.7',
          userAgent: 'test-agent',
        }),
      );
      const r = await t.db.withContext(ctx(), (tx) =>
        tx.query('select * from audit.events where id = $1', [id]),
      );
      const e = r.rows[0]!;
      assert.equal(e['organization_id'], a.orgId);
      assert.equal(e['actor_id'], a.doctorId);
      assert.equal(e['actor_type'], 'user');
      assert.equal(e['purpose_of_use'], 'TREAT');
      assert.equal(e['request_id'], 'req-record-test');
      assert.deepEqual(e['phi_fields'], ['ssn', 'date_of_birth']);
      assert.equal(e['outcome'], '0');
    });

    test('recordAndCommit writes the events as the last statements and commits with them', async () => {
      const ids = await t.db.withContext(ctx(), async (tx) => {
        await tx.query('select 1');
        const written = await recordAndCommit(tx, [
          { action: 'R', eventType: 'commit.test.a', patientId },
          { action: 'R', eventType: 'commit.test.b', patientId, phiFields: ['ssn'] },
        ]);
        // Committed: nothing more can run in this transaction.
        await assert.rejects(() => tx.query('select 1'), /already committed/);
        return written.map((w) => w.id);
      });
      assert.equal(ids.length, 2);
      assert.ok((ids[1] as number) > (ids[0] as number));
      assert.equal(await countFor('commit.test.a'), 1);
      assert.equal(await countFor('commit.test.b'), 1);
      const r = await t.db.withContext(ctx(), (tx) =>
        tx.query<{ actor_id: string; request_id: string }>(
          'select actor_id::text, request_id from audit.events where id = $1',
          [ids[1]],
        ),
      );
      assert.deepEqual(r.rows[0], { actor_id: a.doctorId, request_id: 'req-record-test' });
    });

    test('recordAndCommit with a bad event or none writes nothing', async () => {
      await assert.rejects(
        t.db.withContext(ctx(), (tx) =>
          recordAndCommit(tx, [
            { action: 'R', eventType: 'commit.test.bad' },
            { action: 'R', eventType: 'commit.test.bad', patientId: 'not-a-uuid' },
          ]),
        ),
        (e: unknown) => (e as { code?: string }).code === 'validation_failed',
      );
      assert.equal(await countFor('commit.test.bad'), 0);
      await assert.rejects(
        t.db.withContext(ctx(), (tx) => recordAndCommit(tx, [])),
        /at least one/,
      );
      // An insert the database refuses rolls the whole transaction back, earlier events included.
      await assert.rejects(
        t.db.withContext(ctx(), (tx) =>
          recordAndCommit(tx, [
            { action: 'R', eventType: 'commit.test.refused' },
            { action: 'R', eventType: 'commit.test.refused', outcomeReason: 'x'.repeat(300) },
          ]),
        ),
      );
      assert.equal(await countFor('commit.test.refused'), 0);
    });

    test('a rolled-back transaction leaves no event; a detached record survives its rollback', async () => {
      const boom = new Error('rollback');
      await assert.rejects(
        t.db.withContext(ctx(), async (tx) => {
          await record(tx, { action: 'U', eventType: 'patient.update-rolled-back' });
          throw boom;
        }),
        (e) => e === boom,
      );
      assert.equal(await countFor('patient.update-rolled-back'), 0);
      await assert.rejects(
        withFailureAudit(
          t.db,
          ctx(),
          async (tx) => {
            await record(tx, { action: 'R', eventType: 'patient.read-rolled-back' });
            throw boom;
          },
          () => ({
            action: 'R',
            eventType: 'patient.read-denied',
            outcome: '4',
            outcomeReason: 'forbidden',
          }),
        ),
        (e) => e === boom,
      );
      assert.equal(await countFor('patient.read-rolled-back'), 0);
      assert.equal(await countFor('patient.read-denied'), 1);
    });

    test('detached events without a tenant go to the platform chain, recorded once', async () => {
      const before = await countFor('auth.login-failed');
      await recordDetached(t.db, undefined, {
        action: 'E',
        eventType: 'auth.login-failed',
        outcome: '4',
        actorType: 'user',
      });
      assert.equal((await countFor('auth.login-failed')) ?? 0, (before ?? 0) + 1);
      const r = await t.db.asAdmin((tx) =>
        tx.query<{ org: string }>(
          "select organization_id::text as org from audit.events where event_type = 'auth.login-failed'",
        ),
      );
      assert.equal(r.rows[0]?.org, platformOrgId);
    });

    test('every asSystem call writes a system.access event in its own transaction', async () => {
      const before = (await countFor('system.access')) ?? 0;
      await t.db.asSystem({ name: 'test.job', reason: 'testing the recorder' }, () =>
        Promise.resolve(undefined),
      );
      assert.equal(await countFor('system.access'), before + 1);
    });

    const attempt = async (role: 'ward_app' | 'ward_owner' | 'superuser', sql: string) => {
      try {
        await t.db.asAdmin(async (tx: Tx) => {
          if (role !== 'superuser') await tx.exec(`SET LOCAL ROLE ${role}`);
          await tx.query("select set_config('ward.org_id', $1, true)", [a.orgId]);
          await tx.query(sql);
        });
        return 'allowed';
      } catch (e) {
        return pgCode(e) ?? 'error';
      }
    };

    test('UPDATE, DELETE and TRUNCATE are refused for every role, the owner and superuser included', async () => {
      for (const role of ['ward_app', 'ward_owner', 'superuser'] as const) {
        for (const table of ['audit.events', 'audit.checkpoints']) {
          for (const sql of [
            `update ${table} set organization_id = organization_id`,
            `delete from ${table}`,
            `truncate ${table}`,
          ]) {
            assert.equal(await attempt(role, sql), '42501', `${role}: ${sql}`);
          }
        }
      }
      // Partitions too: a direct TRUNCATE of a month is refused.
      const part = await t.db.asAdmin((tx) =>
        tx.query<{ name: string }>(
          `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
            where i.inhparent = 'audit.events'::regclass limit 1`,
        ),
      );
      assert.equal(await attempt('superuser', `truncate audit.${part.rows[0]!.name}`), '42501');
    });

    test('ward_app can insert only its own tenant and cannot choose id, tx_id or occurred_at', async () => {
      for (const col of ['id', 'tx_id', 'occurred_at']) {
        const value = col === 'tx_id' ? "'1'::xid8" : col === 'id' ? '1' : 'now()';
        const code = await attempt(
          'ward_app',
          `insert into audit.events (${col}, action, event_type) values (${value}, 'R', 'x.y')`,
        );
        assert.equal(code, '42501', col);
      }
    });
  });
}
