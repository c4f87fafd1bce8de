import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createOrganization } from '../../modules/tenancy/service.ts';
import { isWardError } from '../errors.ts';
import { schemaFingerprint } from './catalog.ts';
import { Database } from './database.ts';
import { migrate, migrationStatus, rollback } from './migrate.ts';
import { defaultMigrationsDir, loadMigrations } from './migrations.ts';
import { createPostgresDriver } from './postgres.ts';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../test/helpers/db.ts';

const opened: TestDatabase[] = [];
after(async () => {
  for (const t of opened) await t.close();
});
async function fresh(engine: 'pglite' | 'postgres', migrated = false): Promise<TestDatabase> {
  const t = await createTestDatabase({ engine, migrated });
  opened.push(t);
  return t;
}

function copyMigrations(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-migrations-'));
  for (const f of fs.readdirSync(defaultMigrationsDir)) {
    fs.copyFileSync(path.join(defaultMigrationsDir, f), path.join(dir, f));
  }
  return dir;
}

for (const engine of availableEngines()) {
  describe(`migrations (${engine})`, () => {
    test('apply once, then report everything applied', async () => {
      const { db } = await fresh(engine);
      const first = await migrate(db);
      assert.equal(first.length, loadMigrations().length);
      assert.deepEqual(await migrate(db), []);
      const status = await migrationStatus(db);
      assert.ok(status.every((s) => s.state === 'applied' && s.appliedAt !== null));
    });

    test('migrate → roll back all → migrate yields an identical schema', async () => {
      const { db } = await fresh(engine);
      await migrate(db);
      const before = await db.asAdmin((tx) => schemaFingerprint(tx));
      assert.ok(before.length > 50, 'fingerprint should describe the schema');
      const undone = await rollback(db, { all: true });
      assert.equal(undone.length, loadMigrations().length);
      const empty = await db.asAdmin((tx) => schemaFingerprint(tx));
      assert.deepEqual(empty, [], 'rollback --all should remove every Ward object');
      await migrate(db);
      assert.deepEqual(await db.asAdmin((tx) => schemaFingerprint(tx)), before);
    });

    test('rolling back to 0004 and migrating again restores the seeded permission catalog', async () => {
      const { db } = await fresh(engine);
      await migrate(db);
      const catalog = () =>
        db.asAdmin(async (tx) => ({
          permissions: (
            await tx.query<{ id: string }>('select id from ward.permissions order by id')
          ).rows.map((r) => r.id),
          defaults: (
            await tx.query<{ p: string }>(
              `select role_name || ' ' || permission_id as p from ward.default_role_permissions
                order by 1`,
            )
          ).rows.map((r) => r.p),
        }));
      const before = await catalog();
      assert.ok(before.defaults.includes('auditor audit:read'));
      await rollback(db, { steps: loadMigrations().length - 4 });
      await migrate(db);
      assert.deepEqual(await catalog(), before, "0005's rollback keeps 0004's permissions");
    });

    test('an applied migration edited afterwards is an error naming the file', async () => {
      const { db } = await fresh(engine);
      const dir = copyMigrations();
      await migrate(db, loadMigrations(dir));
      const target = fs
        .readdirSync(dir)
        .find((f) => f.startsWith('0002-') && !f.endsWith('.down.sql'));
      assert.ok(target);
      fs.appendFileSync(path.join(dir, target), '\n-- sneaky edit\n');
      await assert.rejects(migrate(db, loadMigrations(dir)), (e: unknown) => {
        assert.ok(isWardError(e, 'migration_changed'));
        assert.match(e.message, new RegExp(target.replace('.', '\\.')));
        return true;
      });
      await assert.rejects(migrationStatus(db, loadMigrations(dir)), (e: unknown) =>
        isWardError(e, 'migration_changed'),
      );
    });

    test('rollback refuses to drop tables holding rows unless forced', async () => {
      const { db } = await fresh(engine);
      await migrate(db);
      const last = loadMigrations().at(-1);
      assert.ok(last);
      await createOrganization(db, { name: 'Keeps Data', type: 'provider' });
      // Roll back everything above 0002 first (later migrations may hold only reference data).
      const files = loadMigrations();
      const above = files.filter((m) => m.version > 2).length;
      if (above > 0) await rollback(db, { steps: above, force: true });
      await assert.rejects(rollback(db, { steps: 1 }), (e: unknown) => {
        assert.ok(isWardError(e, 'rollback_refused'));
        assert.match(e.message, /ward\.organizations/);
        return true;
      });
      // Nothing changed: the tables and the data are still there.
      const n = await db.asAdmin((tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from ward.organizations'),
      );
      assert.equal(n.rows[0]?.n, 1);
      assert.equal((await migrationStatus(db)).find((s) => s.version === 2)?.state, 'applied');
      const forced = await rollback(db, { steps: 1, force: true });
      assert.deepEqual(
        forced.map((m) => m.version),
        [2],
      );
    });

    test('a multi-step rollback that would refuse at any step rolls back nothing', async () => {
      const { db } = await fresh(engine);
      await migrate(db);
      await createOrganization(db, { name: 'Keeps Data', type: 'provider' });
      const total = loadMigrations().length;
      await assert.rejects(rollback(db, { steps: 1000 }), (e: unknown) => {
        assert.ok(isWardError(e, 'rollback_refused'));
        assert.match(e.message, /Nothing was rolled back \(step \d+ of \d+ refused\)/);
        return true;
      });
      const status = await migrationStatus(db);
      assert.equal(status.filter((s) => s.state === 'applied').length, total);
      // The newest migrations (whose rollback alone would have been allowed) are still there.
      const newest = await db.asAdmin((tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from ward.organizations'),
      );
      assert.equal(newest.rows[0]?.n, 1);
    });

    test('a rollback over reference data only (no tenant rows) needs no force', async () => {
      const { db } = await fresh(engine);
      await migrate(db);
      const done = await rollback(db, { all: true });
      assert.equal(done.length, loadMigrations().length);
    });

    test('malformed migration directories are rejected with the file named', () => {
      const dir = copyMigrations();
      const up = fs.readdirSync(dir).find((f) => f.startsWith('0001-') && !f.endsWith('.down.sql'));
      assert.ok(up);
      const text = fs.readFileSync(path.join(dir, up), 'utf8');
      fs.writeFileSync(path.join(dir, up), text.replace(/^-- Purpose:.*$/m, '-- no purpose here'));
      assert.throws(() => loadMigrations(dir), /header/);
      fs.writeFileSync(path.join(dir, up), text);
      fs.rmSync(path.join(dir, up.replace('.sql', '.down.sql')));
      assert.throws(() => loadMigrations(dir), /no rollback script/);
      const dir2 = copyMigrations();
      fs.copyFileSync(path.join(dir2, up), path.join(dir2, '0099-gap.sql'));
      fs.copyFileSync(
        path.join(dir2, up.replace('.sql', '.down.sql')),
        path.join(dir2, '0099-gap.down.sql'),
      );
      assert.throws(() => loadMigrations(dir2), /gap or duplicate/);
    });
  });
}

if (availableEngines().includes('postgres')) {
  test('concurrent migrators on PostgreSQL apply each migration exactly once', async () => {
    const t = await fresh('postgres');
    assert.ok(t.url);
    const others = Array.from(
      { length: 4 },
      () => new Database(createPostgresDriver({ connectionString: t.url ?? '', max: 2 })),
    );
    try {
      const results = await Promise.all(others.map((db) => migrate(db)));
      const total = results.reduce((n, r) => n + r.length, 0);
      assert.equal(
        total,
        loadMigrations().length,
        'each migration applied by exactly one migrator',
      );
      const rows = await t.db.asAdmin((tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from ward_meta.schema_migrations'),
      );
      assert.equal(rows.rows[0]?.n, loadMigrations().length);
    } finally {
      for (const db of others) await db.close();
    }
  });
}
