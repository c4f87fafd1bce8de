import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listTables, type TableInfo } from '../../src/platform/db/catalog.ts';
import { qualified } from '../../src/platform/db/sql.ts';
import type { Tx } from '../../src/platform/db/types.ts';
import { pgCode } from '../../src/platform/errors.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';

// The cross-tenant probe: every tenant table found in the catalog (so tables added by later
// migrations are covered without editing this file) is attacked from tenant A's context
// against tenant B's rows, and from a context-free transaction.
for (const engine of availableEngines()) {
  describe(`cross-tenant probe (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    let b: TenantFixture;
    let tables: TableInfo[];

    before(async () => {
      t = await createTestDatabase({ engine });
      a = await seedTenant(t.db, 'A');
      b = await seedTenant(t.db, 'B');
      tables = (await t.db.asAdmin((tx) => listTables(tx))).filter(
        (x) => !x.isPartition && x.columns.some((c) => c.name === 'organization_id'),
      );
    });
    after(async () => t.close());

    const asA = <T>(fn: (tx: Tx) => Promise<T>) =>
      t.db.withContext({ orgId: a.orgId, userId: a.adminId, actorType: 'user' }, fn);

    test('the fixture covers every tenant table for both tenants', async () => {
      const empty: string[] = [];
      for (const x of tables) {
        const rel = qualified(x.schema, x.name);
        const r = await t.db.asAdmin((tx) =>
          tx.query<{ a: number; b: number }>(
            `select count(*) filter (where organization_id = $1)::int as a,
                    count(*) filter (where organization_id = $2)::int as b from ${rel}`,
            [a.orgId, b.orgId],
          ),
        );
        if (!r.rows[0] || r.rows[0].a === 0 || r.rows[0].b === 0)
          empty.push(`${x.schema}.${x.name}`);
      }
      assert.deepEqual(empty, [], 'add rows for these tables to test/helpers/fixtures.ts');
    });

    test("tenant A cannot see tenant B's rows in any tenant table", async () => {
      for (const x of tables) {
        const rel = qualified(x.schema, x.name);
        const r = await asA((tx) =>
          tx.query<{ others: number; total: number }>(
            `select count(*) filter (where organization_id <> $1)::int as others, count(*)::int as total from ${rel}`,
            [a.orgId],
          ),
        );
        assert.equal(r.rows[0]?.others, 0, `${rel} leaks other tenants' rows`);
        assert.ok(r.rows[0].total > 0, `${rel}: tenant A should see its own rows`);
      }
    });

    test("tenant A cannot update or delete tenant B's rows", async () => {
      for (const x of tables) {
        const rel = qualified(x.schema, x.name);
        const updated = await probeWrite(
          t,
          a,
          `update ${rel} set organization_id = organization_id where organization_id = $1`,
          [b.orgId],
        );
        assert.ok(
          updated === 0 || updated === 'denied',
          `${rel}: update touched ${String(updated)} of B's rows`,
        );
        const deleted = await probeWrite(t, a, `delete from ${rel} where organization_id = $1`, [
          b.orgId,
        ]);
        assert.ok(
          deleted === 0 || deleted === 'denied',
          `${rel}: delete touched ${String(deleted)} of B's rows`,
        );
        // Moving one's own row into another tenant is refused by WITH CHECK (or by grants).
        const moved = await probeWrite(
          t,
          a,
          `update ${rel} set organization_id = $1 where organization_id = $2`,
          [b.orgId, a.orgId],
        );
        assert.equal(moved, 'denied', `${rel}: a row could be moved into another tenant`);
      }
    });

    test('tenant A cannot insert rows into tenant B', async () => {
      for (const x of tables) {
        const rel = qualified(x.schema, x.name);
        // Take one of B's real rows (read as admin) and try to insert a copy as tenant A.
        const sample = await t.db.asAdmin((tx) =>
          tx.query<{ row: Record<string, unknown> }>(
            `select to_jsonb(s) as row from ${rel} s where organization_id = $1 limit 1`,
            [b.orgId],
          ),
        );
        const row = sample.rows[0]?.row;
        assert.ok(row, `${rel}: no sample row`);
        const outcome = await probeWrite(
          t,
          a,
          `insert into ${rel} select * from jsonb_populate_record(null::${rel}, $1::jsonb)`,
          [JSON.stringify(row)],
        );
        assert.equal(outcome, 'denied', `${rel}: insert into another tenant was not denied`);
      }
    });

    test('without context nothing is visible', async () => {
      for (const x of [...tables, { schema: 'ward', name: 'organizations' } as TableInfo]) {
        const rel = qualified(x.schema, x.name);
        const r = await t.db.withContext(
          { orgId: '00000000-0000-4000-8000-000000000000', actorType: 'user' },
          (tx) => tx.query<{ n: number }>(`select count(*)::int as n from ${rel}`),
        );
        assert.equal(r.rows[0]?.n, 0, `${rel}: rows visible to an unknown tenant`);
        const none = await t.db.driver.transaction(
          (tx) => tx.query<{ n: number }>(`select count(*)::int as n from ${rel}`),
          'SET LOCAL ROLE ward_app;',
        );
        assert.equal(none.rows[0]?.n, 0, `${rel}: rows visible without any context`);
      }
    });

    test('organizations: a tenant sees and edits only itself', async () => {
      const r = await asA((tx) => tx.query<{ id: string }>('select id from ward.organizations'));
      assert.deepEqual(
        r.rows.map((x) => x.id),
        [a.orgId],
      );
      const upd = await probeWrite(
        t,
        a,
        'update ward.organizations set name = name where id = $1',
        [b.orgId],
      );
      assert.equal(upd, 0);
      const ins = await probeWrite(
        t,
        a,
        "insert into ward.organizations (name, type) values ('x', 'provider')",
        [],
      );
      assert.equal(ins, 'denied');
    });
  });
}

/** Runs a write as tenant A and rolls it back; returns rows affected or 'denied' on 42501. */
async function probeWrite(
  t: TestDatabase,
  a: TenantFixture,
  sql: string,
  params: unknown[],
): Promise<number | 'denied'> {
  const rollback = new Error('rollback probe');
  let outcome: number | 'denied' = 0;
  try {
    await t.db.withContext({ orgId: a.orgId, userId: a.adminId, actorType: 'user' }, async (tx) => {
      try {
        outcome = (await tx.query(sql, params)).rowCount;
      } catch (e) {
        if (pgCode(e) !== '42501') throw e;
        outcome = 'denied';
      }
      throw rollback;
    });
  } catch (e) {
    if (e !== rollback) throw e;
  }
  return outcome;
}
