import { WardError } from '../errors.ts';
import type { Database } from './database.ts';
import { loadMigrations, type MigrationFile } from './migrations.ts';
import { qualified, ident } from './sql.ts';
import type { Tx } from './types.ts';

/** State of one migration as `ward db status` reports it. */
export interface MigrationStatus {
  readonly version: number;
  readonly name: string;
  readonly state: 'applied' | 'pending';
  readonly appliedAt: string | null;
  readonly onlineSafe: boolean;
}

// One advisory lock key for every schema change, so two migrators never interleave.
const migrationLockKey = 727_001;

/** Cluster-wide roles, created idempotently (each in its own block so racing creators are fine). */
const roleDefinitions: readonly [string, string][] = [
  // Owns every object and runs migrations. Not a superuser, so FORCE RLS applies to it too.
  ['ward_owner', 'NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE'],
  // What every request runs as: no login, no RLS bypass, only the grants migrations give it.
  ['ward_app', 'NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOINHERIT'],
  // Reads audit and report views.
  ['ward_auditor', 'NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOINHERIT'],
  // Background jobs that must see every tenant; reachable only through Database.asSystem().
  ['ward_system', 'NOLOGIN NOSUPERUSER BYPASSRLS NOCREATEROLE NOINHERIT'],
];

function bootstrapSql(): string {
  const roles = roleDefinitions
    .map(
      ([name, attrs]) => `
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${name}') THEN
      CREATE ROLE ${name} ${attrs};
    END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;`,
    )
    .join('');
  return `
DO $bootstrap$
BEGIN${roles}
  EXECUTE format('GRANT CREATE, CONNECT, TEMPORARY ON DATABASE %I TO ward_owner', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO ward_app, ward_auditor, ward_system', current_database());
  -- PUBLIC keeps CONNECT (logins still need their own role's grant above) but loses TEMPORARY:
  -- no Ward role needs temporary tables, and a temp table shadows names on the search path.
  -- Only the database owner or a superuser may revoke it; any other migrator leaves it be.
  IF EXISTS (SELECT 1 FROM pg_database d
              WHERE d.datname = current_database()
                AND (pg_has_role(current_user, d.datdba, 'USAGE')
                     OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))) THEN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  END IF;
END
$bootstrap$;
CREATE SCHEMA IF NOT EXISTS ward_meta;
REVOKE ALL ON SCHEMA ward_meta FROM PUBLIC;
CREATE TABLE IF NOT EXISTS ward_meta.schema_migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  applied_by  text NOT NULL DEFAULT current_user,
  duration_ms integer NOT NULL
);
REVOKE ALL ON ward_meta.schema_migrations FROM PUBLIC;`;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

async function lockAndBootstrap(tx: Tx): Promise<void> {
  await tx.query('select pg_advisory_xact_lock($1)', [migrationLockKey]);
  await tx.exec(bootstrapSql());
}

async function readApplied(tx: Tx): Promise<AppliedRow[]> {
  const r = await tx.query<AppliedRow>(
    'select version, name, checksum, applied_at from ward_meta.schema_migrations order by version',
  );
  return r.rows;
}

/** Fails, naming the file, when an applied migration was edited or removed afterwards. */
function verifyApplied(applied: readonly AppliedRow[], files: readonly MigrationFile[]): void {
  for (const a of applied) {
    const f = files.find((m) => m.version === a.version);
    if (!f) {
      throw new WardError(
        'migration_changed',
        `Migration ${String(a.version).padStart(4, '0')}-${a.name} is applied but its file is missing from db/migrations`,
      );
    }
    if (f.checksum !== a.checksum) {
      throw new WardError(
        'migration_changed',
        `${f.file} was modified after it was applied (checksum ${a.checksum.slice(0, 12)} recorded, ${f.checksum.slice(0, 12)} on disk). Add a new migration instead of editing an applied one.`,
        { file: f.file },
      );
    }
  }
}

/**
 * Applies every pending migration, each in its own transaction under the advisory lock.
 * Each migration runs as `ward_owner` so that it owns what it creates.
 * @returns the migrations applied by this call
 */
export async function migrate(
  db: Database,
  files: readonly MigrationFile[] = loadMigrations(),
  onApplied?: (m: MigrationFile, ms: number) => void,
): Promise<MigrationFile[]> {
  const done: MigrationFile[] = [];
  await db.asAdmin(async (tx) => {
    await lockAndBootstrap(tx);
    verifyApplied(await readApplied(tx), files);
  });
  for (const m of files) {
    const started = Date.now();
    const applied = await db.asAdmin(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [migrationLockKey]);
      const exists = await tx.query(
        'select 1 from ward_meta.schema_migrations where version = $1',
        [m.version],
      );
      if (exists.rowCount > 0) return false;
      await tx.exec('SET LOCAL ROLE ward_owner');
      try {
        await tx.exec(m.up);
      } catch (e) {
        throw new WardError(
          'migration_failed',
          `${m.file} failed: ${describe(e)}`,
          { file: m.file },
          { cause: e },
        );
      }
      await tx.exec('RESET ROLE');
      await tx.query(
        'insert into ward_meta.schema_migrations (version, name, checksum, duration_ms) values ($1, $2, $3, $4)',
        [m.version, m.name, m.checksum, Date.now() - started],
      );
      return true;
    });
    if (applied) {
      done.push(m);
      onApplied?.(m, Date.now() - started);
    }
  }
  return done;
}

/** Lists every known migration with whether it is applied. Also verifies checksums. */
export async function migrationStatus(
  db: Database,
  files: readonly MigrationFile[] = loadMigrations(),
): Promise<MigrationStatus[]> {
  // Read-only: a server's login role may lack the rights the bootstrap needs.
  const applied = await db.asAdmin(async (tx) => {
    const exists = await tx.query<{ t: string | null }>(
      "select to_regclass('ward_meta.schema_migrations')::text as t",
    );
    return exists.rows[0]?.t ? readApplied(tx) : [];
  });
  verifyApplied(applied, files);
  return files.map((f) => {
    const a = applied.find((r) => r.version === f.version);
    return {
      version: f.version,
      name: f.name,
      state: a ? 'applied' : 'pending',
      appliedAt: a ? a.applied_at.toISOString() : null,
      onlineSafe: f.onlineSafe,
    };
  });
}

/** Options for `rollback`. */
export interface RollbackOptions {
  /** How many applied migrations to roll back, newest first (default 1). */
  readonly steps?: number;
  readonly all?: boolean;
  /** Allow dropping tables or columns that hold rows (never audit data). */
  readonly force?: boolean;
}

/** Schemas whose data no rollback may destroy, even when forced. */
const protectedSchemas = new Set(['audit']);

/**
 * Rolls back applied migrations newest first, all in one transaction, so a multi-step
 * rollback is all or nothing. Every step is checked before anything is committed: each
 * rollback script first runs inside a savepoint (on top of the steps before it) to learn from
 * the catalog which tables and columns it would drop, which are then checked for rows; if any
 * hold data the whole rollback refuses unless forced (audit data is refused even then), and
 * the refusal says which step refused and that nothing was rolled back.
 */
export async function rollback(
  db: Database,
  opts: RollbackOptions = {},
  files: readonly MigrationFile[] = loadMigrations(),
): Promise<MigrationFile[]> {
  const applied = await db.asAdmin(async (tx) => {
    await lockAndBootstrap(tx);
    return readApplied(tx);
  });
  verifyApplied(applied, files);
  const count = opts.all ? applied.length : (opts.steps ?? 1);
  if (!Number.isInteger(count) || count < 0)
    throw new WardError('bad_request', '--steps must be a positive integer');
  if (count === 0) return [];
  return db.asAdmin(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [migrationLockKey]);
    await assertCanSeeAllRows(tx);
    // Re-read under the lock: another process may have rolled back or migrated meanwhile.
    const current = await readApplied(tx);
    verifyApplied(current, files);
    const targets = current
      .slice(opts.all ? 0 : -count)
      .reverse()
      .map((a) => files.find((f) => f.version === a.version))
      .filter((m): m is MigrationFile => m !== undefined);
    const done: MigrationFile[] = [];
    const refuse = (m: MigrationFile, why: string): WardError =>
      new WardError(
        'rollback_refused',
        `${m.file}: ${why} Nothing was rolled back${
          targets.length > 1 ? ` (step ${done.length + 1} of ${targets.length} refused)` : ''
        }.`,
        { file: m.file, version: m.version, rolledBack: 0 },
      );
    for (const m of targets) {
      const before = await tableColumns(tx);
      await tx.exec('SAVEPOINT ward_rollback_probe');
      await tx.exec('SET LOCAL ROLE ward_owner');
      await runDown(tx, m);
      const after = await tableColumns(tx);
      await tx.exec('ROLLBACK TO SAVEPOINT ward_rollback_probe');
      await tx.exec('RESET ROLE');
      const losses = await dataAtRisk(tx, before, after);
      const auditLoss = losses.filter((l) => protectedSchemas.has(l.schema));
      if (auditLoss.length > 0) {
        throw refuse(
          m,
          `rolling back would drop audit data (${auditLoss.map(show).join(', ')}); audit data is never dropped by a rollback. Export and archive it first (ward audit retention).`,
        );
      }
      if (losses.length > 0 && !opts.force) {
        throw refuse(
          m,
          `rolling back would drop ${losses.map(show).join(', ')}, which hold rows. Re-run with --force to accept the loss.`,
        );
      }
      await tx.exec('SET LOCAL ROLE ward_owner');
      await runDown(tx, m);
      await tx.exec('RESET ROLE');
      await tx.query('delete from ward_meta.schema_migrations where version = $1', [m.version]);
      done.push(m);
    }
    return done;
  });
}

async function runDown(tx: Tx, m: MigrationFile): Promise<void> {
  try {
    await tx.exec(m.down);
  } catch (e) {
    throw new WardError(
      'migration_failed',
      `rollback of ${m.file} failed: ${describe(e)}`,
      { file: m.file },
      { cause: e },
    );
  }
}

interface Loss {
  schema: string;
  table: string;
  column?: string;
}

function show(l: Loss): string {
  return l.column ? `column ${l.schema}.${l.table}.${l.column}` : `table ${l.schema}.${l.table}`;
}

async function assertCanSeeAllRows(tx: Tx): Promise<void> {
  const r = await tx.query<{ ok: boolean }>(
    'select (rolsuper or rolbypassrls) as ok from pg_roles where rolname = current_user',
  );
  if (!r.rows[0]?.ok) {
    throw new WardError(
      'rollback_refused',
      'Rollback must run as a superuser or a BYPASSRLS role: under forced row-level security another role cannot tell whether a table is empty.',
    );
  }
}

type Catalog = Map<
  string,
  { schema: string; table: string; reference: boolean; columns: Set<string> }
>;

// A table whose comment carries this marker holds reference data that migrations insert
// (permission catalog, code sets); dropping it loses nothing a migration cannot recreate.
const referenceMarker = 'ward:reference-data';
// A table derived from others (an index kept as a table, rebuilt by its migration from the
// data it derives from): dropping it loses nothing either, even in the audit schema.
const derivedMarker = 'ward:derived-data';

async function tableColumns(tx: Tx): Promise<Catalog> {
  const r = await tx.query<{
    schema: string;
    table: string;
    column: string | null;
    note: string | null;
  }>(`
    select n.nspname as schema, c.relname as table, a.attname as column,
           obj_description(c.oid, 'pg_class') as note
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where c.relkind in ('r', 'p')
       and n.nspname not in ('pg_catalog', 'information_schema', 'ward_meta')
       and n.nspname not like 'pg_%'`);
  const out: Catalog = new Map();
  for (const row of r.rows) {
    const key = `${row.schema}.${row.table}`;
    let t = out.get(key);
    if (!t) {
      t = {
        schema: row.schema,
        table: row.table,
        reference:
          (row.note?.includes(referenceMarker) ?? false) ||
          (row.note?.includes(derivedMarker) ?? false),
        columns: new Set(),
      };
      out.set(key, t);
    }
    if (row.column) t.columns.add(row.column);
  }
  return out;
}

async function dataAtRisk(tx: Tx, before: Catalog, after: Catalog): Promise<Loss[]> {
  const losses: Loss[] = [];
  for (const [key, t] of before) {
    const rel = qualified(t.schema, t.table);
    const kept = after.get(key);
    if (t.reference) continue;
    if (!kept) {
      const r = await tx.query<{ has: boolean }>(`select exists(select 1 from ${rel}) as has`);
      if (r.rows[0]?.has) losses.push({ schema: t.schema, table: t.table });
      continue;
    }
    for (const col of t.columns) {
      if (kept.columns.has(col)) continue;
      const r = await tx.query<{ has: boolean }>(
        `select exists(select 1 from ${rel} where ${ident(col)} is not null) as has`,
      );
      if (r.rows[0]?.has) losses.push({ schema: t.schema, table: t.table, column: col });
    }
  }
  return losses;
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? 'error';
  return 'error';
}
