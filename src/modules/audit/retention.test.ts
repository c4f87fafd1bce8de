import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pgCode } from '../../platform/errors.ts';
import { rollback } from '../../platform/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { fixtureSigner, seedTenant, type TenantFixture } from '../../../test/helpers/fixtures.ts';
import { sealUntilCovered } from '../../../test/helpers/audit.ts';
import { ensurePartitions } from './partitions.ts';
import { applyRetention } from './retention.ts';
import { recordSystemAccess } from './system-recorder.ts';
import { verifyAuditLog } from './verify.ts';

describe('audit partitions, retention and rollback protection', () => {
  let t: TestDatabase;
  let a: TenantFixture;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-retention-'));
  before(async () => {
    t = await createTestDatabase();
    t.db.onSystemAccess(recordSystemAccess);
    a = await seedTenant(t.db, 'RET');
  });
  after(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the partition job keeps months ahead and is idempotent', async () => {
    await ensurePartitions(t.db, 6);
    assert.equal(await ensurePartitions(t.db, 6), 0);
    const r = await t.db.asAdmin((tx) =>
      tx.query<{ n: number }>(
        "select count(*)::int as n from pg_inherits where inhparent = 'audit.events'::regclass",
      ),
    );
    assert.ok(r.rows[0]!.n >= 7);
  });

  test('retention exports, then drops old partitions; verify still passes on the rest', async () => {
    await t.db.asSystem({ name: 'test.old-partitions', reason: 'test' }, (tx) =>
      tx.query("select audit.ensure_partitions('2015-01-01', 2)"),
    );
    // Old events (as the superuser: only the database may set occurred_at).
    await t.db.asAdmin((tx) =>
      tx.query(
        `insert into audit.events (organization_id, occurred_at, actor_type, action, event_type)
         select $1, timestamptz '2015-01-10 12:00:00+00' + make_interval(hours => g), 'user', 'R', 'old.read'
           from generate_series(1, 25) g`,
        [a.orgId],
      ),
    );
    await sealUntilCovered(t.db, fixtureSigner, [a.orgId]);
    const dry = await applyRetention(t.db, { outDir: dir, apply: false });
    assert.deepEqual(
      dry.map((p) => p.name),
      ['events_2015_01', 'events_2015_02'],
    );
    const done = await applyRetention(t.db, { outDir: dir, apply: true });
    assert.deepEqual(
      done.map((p) => [p.name, p.rows, p.dropped]),
      [
        ['events_2015_01', 25],
        ['events_2015_02', 0],
      ].map(([n, r]) => [n, r, true]),
    );
    const lines = fs.readFileSync(done[0]!.file!, 'utf8').trim().split('\n');
    assert.equal(lines.length, 25);
    const report = await verifyAuditLog(t.db, {
      trustedKeys: [{ keyId: fixtureSigner.keyId, publicKey: fixtureSigner.publicKey }],
    });
    assert.ok(report.ok, JSON.stringify(report.chains.map((c) => c.failure)));
    assert.ok(report.chains.some((c) => c.archivedCheckpoints > 0));
  });

  test('a partition is never dropped without its export, nor inside six years', async () => {
    const call = async (name: string) => {
      try {
        await t.db.asSystem({ name: 'test.drop', reason: 'test' }, (tx) =>
          tx.query('select audit.drop_exported_partition($1)', [name]),
        );
        return 'dropped';
      } catch (e) {
        return pgCode(e);
      }
    };
    const current = await t.db.asAdmin((tx) =>
      tx.query<{ name: string }>(
        "select 'events_' || to_char(now() at time zone 'UTC', 'YYYY_MM') as name",
      ),
    );
    assert.equal(await call(current.rows[0]!.name), '55000');
    await assert.rejects(applyRetention(t.db, { outDir: dir, apply: true, years: 2 }));
  });

  test('a rollback never drops audit data, even when forced', async () => {
    await assert.rejects(rollback(t.db, { all: true, force: true }), /audit data is never dropped/);
    const still = await t.db.asAdmin((tx) =>
      tx.query<{ n: number }>('select count(*)::int as n from audit.events'),
    );
    assert.ok(still.rows[0]!.n > 0);
  });
});
