import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listTables } from '../../src/platform/db/catalog.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// Invariants of the schema that must hold for every table, including tables added by later
// migrations: this test reads the live catalog rather than a list.
describe('schema lint', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.close());

  test('every tenant table has RLS enabled and forced with at least one policy', async () => {
    const tables = await t.db.asAdmin((tx) => listTables(tx));
    const tenant = tables.filter((x) => x.columns.some((c) => c.name === 'organization_id'));
    assert.ok(tenant.length >= 5, 'expected the tenancy tables to be found');
    // A partition may go without its own policies only if ward_app cannot reach it directly:
    // queries through the parent apply the parent's policies, direct ones would not.
    const reachable = await t.db.asAdmin((tx) =>
      tx.query<{ name: string }>(
        `select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relispartition and has_table_privilege('ward_app', c.oid, 'SELECT,INSERT,UPDATE,DELETE')`,
      ),
    );
    const directlyReachable = new Set(reachable.rows.map((r) => r.name));
    const bad = tenant
      .filter((x) => !x.isPartition || directlyReachable.has(`${x.schema}.${x.name}`))
      .filter((x) => !x.rlsEnabled || !x.rlsForced || x.policyCount === 0)
      .map((x) => `${x.schema}.${x.name}`);
    assert.deepEqual(bad, []);
  });

  test('organizations is under forced RLS too', async () => {
    const tables = await t.db.asAdmin((tx) => listTables(tx));
    const orgs = tables.find((x) => x.schema === 'ward' && x.name === 'organizations');
    assert.ok(orgs?.rlsEnabled && orgs.rlsForced && orgs.policyCount > 0);
  });

  test('tenant tables key on (organization_id, …) and tenant foreign keys include organization_id', async () => {
    const tables = await t.db.asAdmin((tx) => listTables(tx));
    const tenantNames = new Set(
      tables
        .filter((x) => x.columns.some((c) => c.name === 'organization_id'))
        .map((x) => `${x.schema}.${x.name}`),
    );
    const problems: string[] = [];
    for (const x of tables) {
      if (!tenantNames.has(`${x.schema}.${x.name}`)) continue;
      // A partition's keys are its parent's (the catalog reports them on the parent only).
      if (x.isPartition) continue;
      if (x.primaryKey[0] !== 'organization_id')
        problems.push(`${x.schema}.${x.name}: primary key does not lead with organization_id`);
      for (const fk of x.foreignKeys) {
        const target = `${fk.refSchema}.${fk.refTable}`;
        if (tenantNames.has(target) && !fk.columns.includes('organization_id')) {
          problems.push(`${x.schema}.${x.name} → ${target}: foreign key lacks organization_id`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('runtime roles cannot bypass RLS or log in', async () => {
    const r = await t.db.asAdmin((tx) =>
      tx.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>(
        `select rolname, rolsuper, rolbypassrls, rolcanlogin from pg_roles
          where rolname in ('ward_app', 'ward_owner', 'ward_auditor', 'ward_system') order by rolname`,
      ),
    );
    const byName = new Map(r.rows.map((x) => [x.rolname, x]));
    for (const name of ['ward_app', 'ward_owner', 'ward_auditor']) {
      assert.equal(byName.get(name)?.rolsuper, false, `${name} is superuser`);
      assert.equal(byName.get(name)?.rolbypassrls, false, `${name} bypasses RLS`);
      assert.equal(byName.get(name)?.rolcanlogin, false, `${name} can log in`);
    }
    // The one bypassing role exists only for Database.asSystem() and cannot log in.
    assert.equal(byName.get('ward_system')?.rolbypassrls, true);
    assert.equal(byName.get('ward_system')?.rolcanlogin, false);
  });

  test('only ward_system can read or change the wrapped audit signing keys', async () => {
    const r = await t.db.asAdmin((tx) =>
      tx.query<{ role: string; col: string; sel: boolean; upd: boolean }>(
        `select r.role, c.col,
                has_column_privilege(r.role, 'audit.signing_keys', c.col, 'SELECT') as sel,
                has_column_privilege(r.role, 'audit.signing_keys', c.col, 'UPDATE') as upd
           from unnest(array['ward_app', 'ward_auditor', 'ward_system']) r(role),
                unnest(array['wrapped_private_key', 'kek_id', 'public_key']) c(col)
          order by 1, 2`,
      ),
    );
    const got = Object.fromEntries(r.rows.map((x) => [`${x.role}.${x.col}`, [x.sel, x.upd]]));
    assert.deepEqual(got, {
      'ward_app.kek_id': [false, false],
      'ward_app.public_key': [true, false],
      'ward_app.wrapped_private_key': [false, false],
      'ward_auditor.kek_id': [false, false],
      'ward_auditor.public_key': [true, false],
      'ward_auditor.wrapped_private_key': [false, false],
      'ward_system.kek_id': [true, true],
      'ward_system.public_key': [true, false],
      'ward_system.wrapped_private_key': [true, true],
    });
  });

  test('no table, view or sequence grants anything to PUBLIC', async () => {
    const r = await t.db.asAdmin((tx) =>
      tx.query<{ name: string }>(
        `select n.nspname || '.' || c.relname as name
           from pg_class c join pg_namespace n on n.oid = c.relnamespace,
                lateral aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
          where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
            and c.relkind in ('r', 'p', 'v', 'm', 'S') and a.grantee = 0`,
      ),
    );
    assert.deepEqual(
      r.rows.map((x) => x.name),
      [],
    );
  });

  test('Ward objects are owned by ward_owner', async () => {
    const r = await t.db.asAdmin((tx) =>
      tx.query<{ name: string; owner: string }>(
        `select n.nspname || '.' || c.relname as name, pg_get_userbyid(c.relowner) as owner
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema', 'ward_meta', 'public')
            and n.nspname not like 'pg\\_%' and pg_get_userbyid(c.relowner) <> 'ward_owner'`,
      ),
    );
    assert.deepEqual(r.rows, []);
  });
});
