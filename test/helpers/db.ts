import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { loadMigrations, migrationSetDigest } from '../../src/platform/db/migrations.ts';
import { createPgliteDriver } from '../../src/platform/db/pglite.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import type { EngineKind } from '../../src/platform/db/types.ts';

/** A fresh, migrated database owned by one test file. */
export interface TestDatabase {
  readonly db: Database;
  readonly engine: EngineKind;
  /** Connection string (PostgreSQL only), for tests that run the CLI against it. */
  readonly url: string | undefined;
  /** Closes connections and drops the database. */
  close(): Promise<void>;
}

/** Engines available in this run: PGlite always, PostgreSQL when WARD_TEST_DATABASE_URL is set. */
export function availableEngines(): EngineKind[] {
  return process.env['WARD_TEST_DATABASE_URL'] ? ['pglite', 'postgres'] : ['pglite'];
}

/** The engine most tests use: the real server when configured (as in CI), else PGlite. */
export function defaultEngine(): EngineKind {
  return process.env['WARD_TEST_DATABASE_URL'] ? 'postgres' : 'pglite';
}

/**
 * Creates a fresh database with every migration applied, cloned from a migrated template so
 * that each test file starts in well under a second. `migrated: false` gives an empty one.
 */
export async function createTestDatabase(
  opts: { engine?: EngineKind; migrated?: boolean } = {},
): Promise<TestDatabase> {
  const engine = opts.engine ?? defaultEngine();
  const migrated = opts.migrated ?? true;
  return engine === 'postgres' ? createPostgres(migrated) : createPglite(migrated);
}

const digest = () => migrationSetDigest(loadMigrations()).slice(0, 16);

async function createPglite(migrated: boolean): Promise<TestDatabase> {
  if (!migrated) {
    const db = new Database(await createPgliteDriver());
    return { db, engine: 'pglite', url: undefined, close: () => db.close() };
  }
  const cacheDir = path.join(os.tmpdir(), 'ward-test-templates');
  const file = path.join(cacheDir, `pglite-${digest()}.tar`);
  if (!fs.existsSync(file)) {
    const builder = await createPgliteDriver();
    await migrate(new Database(builder));
    const tar = await (builder as unknown as { dumpDataDir(): Promise<Blob> }).dumpDataDir();
    await builder.close();
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(tmp, Buffer.from(await tar.arrayBuffer()));
    fs.renameSync(tmp, file);
  }
  const db = new Database(
    await createPgliteDriver({ loadDataDir: new Blob([fs.readFileSync(file)]) }),
  );
  return { db, engine: 'pglite', url: undefined, close: () => db.close() };
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

// Serializes template builds and clones across the test processes of one run.
const templateLockKey = 727_100;

async function createPostgres(migrated: boolean): Promise<TestDatabase> {
  const base = process.env['WARD_TEST_DATABASE_URL'];
  if (!base) throw new Error('WARD_TEST_DATABASE_URL is not set');
  const name = `ward_test_${Date.now().toString(36)}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query('select pg_advisory_lock($1)', [templateLockKey]);
    if (migrated) {
      const template = `ward_tpl_${digest()}`;
      const exists = await admin.query('select 1 from pg_database where datname = $1', [template]);
      if (exists.rowCount === 0) {
        const building = `${template}_building`;
        await admin.query(`drop database if exists ${building} with (force)`);
        await admin.query(`create database ${building}`);
        const driver = createPostgresDriver({
          connectionString: withDatabase(base, building),
          max: 2,
        });
        try {
          await migrate(new Database(driver));
        } finally {
          await driver.close();
        }
        await admin.query(`alter database ${building} rename to ${template}`);
      }
      await admin.query(`create database ${name} template ${template}`);
    } else {
      await admin.query(`create database ${name}`);
    }
  } finally {
    await admin.query('select pg_advisory_unlock($1)', [templateLockKey]).catch(() => undefined);
    await admin.end();
  }
  const url = withDatabase(base, name);
  const db = new Database(createPostgresDriver({ connectionString: url, max: 10 }));
  return {
    db,
    engine: 'postgres',
    url,
    async close() {
      await db.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
