import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pgCode } from '../../platform/errors.ts';
import type { Tx } from '../../platform/db/index.ts';
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

  test('a run stopped between export and drop is resumed, and only with its file intact', async () => {
    await t.db.asSystem({ name: 'test.old-partitions', reason: 'test' }, (tx) =>
      tx.query("select audit.ensure_partitions('2017-08-01', 2)"),
    );
    await t.db.asAdmin((tx) =>
      tx.query(
        `insert into audit.events (organization_id, occurred_at, actor_type, action, event_type)
         select $1, timestamptz '2017-08-05 08:00:00+00' + make_interval(hours => g), 'user', 'R', 'old.read'
           from generate_series(1, 7) g`,
        [a.orgId],
      ),
    );
    await sealUntilCovered(t.db, fixtureSigner, [a.orgId]);
    const out = path.join(dir, 'resume');
    const now = new Date('2024-01-01T00:00:00Z');
    // First run: exported and recorded, then stopped (as if killed) before the drop.
    const first = await applyRetention(t.db, { outDir: out, apply: true, exportOnly: true, now });
    const august = first.find((p) => p.name === 'events_2017_08')!;
    assert.equal(august.dropped, false);
    assert.equal(august.rows, 7);
    assert.ok(fs.existsSync(august.file!));
    assert.deepEqual(
      fs.readdirSync(out).filter((f) => f.endsWith('.partial')),
      [],
    );
    const liveMonths = async () =>
      (
        await t.db.asAdmin((tx) =>
          tx.query<{ relname: string }>(
            "select relname from pg_class where relname in ('events_2017_08', 'events_2017_09')",
          ),
        )
      ).rows.length;
    assert.equal(await liveMonths(), 2);
    // A tampered file stops the resume: nothing is dropped.
    const good = fs.readFileSync(august.file!);
    fs.writeFileSync(august.file!, good.toString().replace('old.read', 'old.reaD'));
    await assert.rejects(applyRetention(t.db, { outDir: out, apply: true, now }), {
      code: 'audit_integrity_failed',
    });
    assert.equal(await liveMonths(), 2);
    // With the file restored, the next run verifies it and drops both months.
    fs.writeFileSync(august.file!, good);
    const resumed = await applyRetention(t.db, { outDir: out, apply: true, now });
    assert.deepEqual(
      resumed.filter((p) => p.name.startsWith('events_2017')).map((p) => [p.name, p.dropped]),
      [
        ['events_2017_08', true],
        ['events_2017_09', true],
      ],
    );
    assert.equal(await liveMonths(), 0);
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

  // The review's attack: as ward_system, record a fake export of the current month (a
  // range_to from 2001) and ask for the drop. The export row is refused on insert; a bogus row
  // that got in anyway (before migration 0015, or with triggers off) opens nothing: the drop
  // reads the partition's real bounds, verify keeps checking a live month in full, and
  // partition upkeep still creates a month such a row names.
  const asSystem = <T>(fn: (tx: Tx) => Promise<T>) =>
    t.db.asSystem({ name: 'test.retention-attack', reason: 'test' }, fn);
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: unknown) => pgCode(e) ?? 'error',
    );
  const monthName = (offset: number) =>
    t.db
      .asAdmin((tx) =>
        tx.query<{ name: string }>(
          `select 'events_' || to_char(date_trunc('month', now() at time zone 'UTC') + make_interval(months => $1), 'YYYY_MM') as name`,
          [offset],
        ),
      )
      .then((r) => r.rows[0]!.name);
  const bogusExport = (name: string, from: string, to: string, dropped: boolean) =>
    t.db.asAdmin(async (tx) => {
      // A superuser skipping triggers stands in for a row written before the fix.
      await tx.exec('SET LOCAL session_replication_role = replica');
      await tx.query(
        `insert into audit.partition_exports (partition_name, range_from, range_to, row_count, sha256, location, dropped_at)
         values ($1, $2, $3, 0, sha256('x'), '/dev/null', $4)`,
        [name, from, to, dropped ? new Date() : null],
      );
    });

  test('an export row for a retained month is refused, whatever its range says', async () => {
    const current = await monthName(0);
    const insert = (from: string, to: string, dropped: Date | null = null) =>
      code(
        asSystem((tx) =>
          tx.query(
            `insert into audit.partition_exports (partition_name, range_from, range_to, row_count, sha256, location, dropped_at)
             values ($1, $2, $3, 0, sha256('x'), '/dev/null', $4)`,
            [current, from, to, dropped],
          ),
        ),
      );
    assert.equal(await insert('2001-01-01T00:00:00Z', '2001-02-01T00:00:00Z'), '23514');
    const lo = `${current.slice(7, 11)}-${current.slice(12)}-01T00:00:00Z`;
    const hi = new Date(Date.parse(lo));
    hi.setUTCMonth(hi.getUTCMonth() + 1);
    assert.equal(await insert(lo, hi.toISOString()), '23514');
    // Nor may an export arrive already marked dropped (verify would then skip the month).
    assert.equal(await insert('2015-03-01T00:00:00Z', '2015-04-01T00:00:00Z', new Date()), '23514');
  });

  test('a bogus export row cannot drop the current month, nor hide it from verify', async () => {
    const current = await monthName(0);
    await bogusExport(current, '2001-01-01T00:00:00Z', '2001-02-01T00:00:00Z', false);
    assert.equal(
      await code(asSystem((tx) => tx.query('select audit.drop_exported_partition($1)', [current]))),
      '55000',
    );
    const still = await t.db.asAdmin((tx) =>
      tx.query<{ t: string | null }>('select to_regclass($1)::text as t', [`audit.${current}`]),
    );
    assert.equal(still.rows[0]!.t, `audit.${current}`);
    // dropped_at is stamped only once the partition is gone.
    assert.equal(
      await code(
        asSystem((tx) =>
          tx.query(
            'update audit.partition_exports set dropped_at = now() where partition_name = $1',
            [current],
          ),
        ),
      ),
      '42501',
    );
    // Events still land in the current month.
    await asSystem((tx) =>
      tx.query(
        "insert into audit.events (organization_id, action, event_type) values ($1, 'R', 'after.attack')",
        [a.orgId],
      ),
    );
    await sealUntilCovered(t.db, fixtureSigner, [a.orgId]);
  });

  test('verify checks a live month in full even when an export row says it was dropped', async () => {
    const next = await monthName(1);
    await bogusExport(next, '2001-01-01T00:00:00Z', '2001-02-01T00:00:00Z', true);
    const trustedKeys = [{ keyId: fixtureSigner.keyId, publicKey: fixtureSigner.publicKey }];
    const tamper = (eventType: string) =>
      t.db.asAdmin(async (tx) => {
        await tx.exec('SET LOCAL session_replication_role = replica');
        await tx.query(
          `update audit.events set event_type = $2
            where organization_id = $1 and id = (select max(id) from audit.events where organization_id = $1)`,
          [a.orgId, eventType],
        );
      });
    // The month of the bogus row is next month; mark the current month too (both are live).
    const current = await monthName(0);
    await t.db.asAdmin(async (tx) => {
      await tx.exec('SET LOCAL session_replication_role = replica');
      await tx.query(
        'update audit.partition_exports set dropped_at = now() where partition_name = $1',
        [current],
      );
    });
    await tamper('tampered.event');
    try {
      const report = await verifyAuditLog(t.db, { trustedKeys });
      assert.equal(report.ok, false, 'a modified event in a live month must be found');
    } finally {
      await tamper('after.attack');
    }
  });

  test('partition upkeep is not blocked by an export row for a future month', async () => {
    const future = await monthName(11);
    await bogusExport(future, '2001-01-01T00:00:00Z', '2001-02-01T00:00:00Z', true);
    await asSystem((tx) =>
      tx.query(
        "select audit.ensure_partitions(date_trunc('month', now() at time zone 'UTC')::date, 12)",
      ),
    );
    const made = await t.db.asAdmin((tx) =>
      tx.query<{ t: string | null }>('select to_regclass($1)::text as t', [`audit.${future}`]),
    );
    assert.equal(made.rows[0]!.t, `audit.${future}`);
  });

  test('the drop reads the real bounds and honours the configured retention period', async () => {
    const asOwner = (sql: string) =>
      t.db.asAdmin(async (tx) => {
        await tx.exec('SET LOCAL ROLE ward_owner');
        await tx.exec(sql);
      });
    const drop = (name: string, years: number) =>
      code(
        asSystem((tx) => tx.query('select audit.drop_exported_partition($1, $2)', [name, years])),
      );
    const exportOf = (name: string, from: string, to: string) =>
      asSystem((tx) =>
        tx.query(
          `insert into audit.partition_exports (partition_name, range_from, range_to, row_count, sha256, location)
           values ($1, $2, $3, 0, sha256('x'), '/dev/null')`,
          [name, from, to],
        ),
      );
    // Named for March 2016 but holding two months: its export (for March) does not match it.
    await asOwner(
      "CREATE TABLE audit.events_2016_03 PARTITION OF audit.events FOR VALUES FROM ('2016-03-01 00:00+00') TO ('2016-05-01 00:00+00')",
    );
    await asOwner("SELECT audit.secure_partition('events_2016_03')");
    await exportOf('events_2016_03', '2016-03-01T00:00:00Z', '2016-04-01T00:00:00Z');
    assert.equal(await drop('events_2016_03', 6), '55000');
    // June 2020 ended more than six but less than seven years ago (this test runs after 2026-07).
    await asSystem((tx) => tx.query("select audit.ensure_partitions('2020-06-01', 1)"));
    await exportOf('events_2020_06', '2020-06-01T00:00:00Z', '2020-07-01T00:00:00Z');
    assert.equal(await drop('events_2020_06', 7), '55000');
    assert.equal(await drop('events_2020_06', 5), '22023');
    assert.equal(await drop('events_2020_06', 6), 'ok');
  });

  test('partitions are under forced RLS: the owner reads no tenant through a month directly', async () => {
    const current = await monthName(0);
    const count = (role: string | undefined, orgId: string | undefined) =>
      t.db.asAdmin(async (tx) => {
        if (role) await tx.exec(`SET LOCAL ROLE ${role}`);
        if (orgId) await tx.query("select set_config('ward.org_id', $1, true)", [orgId]);
        const r = await tx.query<{ n: number; others: number }>(
          `select count(*)::int as n, count(*) filter (where organization_id <> $1)::int as others
             from audit.${current}`,
          [a.orgId],
        );
        return r.rows[0]!;
      });
    const all = await count(undefined, undefined);
    assert.ok(all.others > 0, 'the month holds other chains too');
    assert.deepEqual(await count('ward_owner', undefined), { n: 0, others: 0 });
    const own = await count('ward_owner', a.orgId);
    assert.ok(own.n > 0);
    assert.equal(own.others, 0);
    // The runtime roles have no grant on a partition at all: only the parent is reachable.
    assert.equal(await code(count('ward_app', a.orgId)), '42501');
    assert.equal(await code(count('ward_system', undefined)), '42501');
    const unforced = await t.db.asAdmin((tx) =>
      tx.query<{ name: string }>(
        `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = 'audit.events'::regclass
            and not (c.relrowsecurity and c.relforcerowsecurity
                     and exists (select 1 from pg_policy p where p.polrelid = c.oid))`,
      ),
    );
    assert.deepEqual(unforced.rows, []);
  });

  test('a rollback never drops audit data, even when forced', async () => {
    // Encrypted free text stops a rollback earlier, at 0022 (the previous release cannot read it).
    await assert.rejects(rollback(t.db, { all: true, force: true }), /only in encrypted form/);
    // Without it, the rollback reaches the audit trail and stops there, forced or not.
    await t.db.asAdmin((tx) =>
      tx.exec(`set local session_replication_role = replica;
        delete from clinical.prescriptions; delete from clinical.medical_images;
        delete from clinical.diagnoses; delete from clinical.treatment_plans;
        delete from clinical.medical_cases; delete from ward.review_tasks;
        delete from ward.security_alerts; delete from ward.break_glass_sessions;`),
    );
    await assert.rejects(rollback(t.db, { all: true, force: true }), /audit data is never dropped/);
    const still = await t.db.asAdmin((tx) =>
      tx.query<{ n: number }>('select count(*)::int as n from audit.events'),
    );
    assert.ok(still.rows[0]!.n > 0);
  });
});
