import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listTables, type TableInfo } from '../../src/platform/db/catalog.ts';
import type { RequestContext } from '../../src/platform/db/index.ts';
import { ident, qualified } from '../../src/platform/db/sql.ts';
import type { Tx } from '../../src/platform/db/types.ts';
import {
  availableEngines,
  createTestDatabase,
  defaultEngine,
  type TestDatabase,
} from '../helpers/db.ts';
import { createPatient } from '../../src/modules/clinical/patients-service.ts';
import { fixtureCrypto } from '../helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import { insertProbe, probe, show, writePrivileges } from '../helpers/tenant-probe.ts';

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

    const ctxA = (): RequestContext => ({ orgId: a.orgId, userId: a.adminId, actorType: 'user' });
    const asA = <T>(fn: (tx: Tx) => Promise<T>) => t.db.withContext(ctxA(), fn);

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

    // Each write probe names only what ward_app may write (column privileges from the catalog),
    // so the statement reaches row-level security instead of dying on a privilege error, and
    // the refusal must be RLS's own (42501 "row-level security") or zero rows. What ward_app
    // cannot write at all is asserted as such below, so a new grant is noticed.
    test("tenant A cannot update or delete tenant B's rows, nor move its own rows out", async () => {
      const noUpdate: string[] = [];
      const noDelete: string[] = [];
      const orgFrozen: string[] = [];
      for (const x of tables) {
        const rel = qualified(x.schema, x.name);
        const name = `${x.schema}.${x.name}`;
        const p = await writePrivileges(t.db, x.schema, x.name);
        const target = p.updatable.find((c) => c !== 'organization_id');
        if (target === undefined) noUpdate.push(name);
        else {
          const col = ident(target);
          const updated = await probe(
            t.db,
            ctxA(),
            `update ${rel} set ${col} = ${col} where organization_id = $1`,
            [b.orgId],
          );
          assert.ok(
            updated.kind === 'rows' && updated.n === 0,
            `${name}: update of B's rows: ${show(updated)}`,
          );
        }
        if (!p.canDelete) noDelete.push(name);
        else {
          const deleted = await probe(
            t.db,
            ctxA(),
            `delete from ${rel} where organization_id = $1`,
            [b.orgId],
          );
          assert.ok(
            deleted.kind === 'rows' && deleted.n === 0,
            `${name}: delete of B's rows: ${show(deleted)}`,
          );
        }
        if (!p.updatable.includes('organization_id')) orgFrozen.push(name);
        else {
          // Moving one's own row into another tenant must be refused by WITH CHECK.
          const moved = await probe(
            t.db,
            ctxA(),
            `update ${rel} set organization_id = $1 where organization_id = $2`,
            [b.orgId, a.orgId],
          );
          assert.equal(moved.kind, 'rls', `${name}: moving a row to B: ${show(moved)}`);
        }
      }
      assert.deepEqual(noUpdate, [
        'audit.checkpoints',
        'audit.event_patients',
        'audit.events',
        'clinical.prescriptions',
        'ward.blind_index_keys',
        'ward.blind_index_normalization',
        'ward.encryption_keys',
        'ward.role_permissions',
        'ward.user_roles',
      ]);
      assert.deepEqual(noDelete, [
        'audit.checkpoints',
        'audit.event_patients',
        'audit.events',
        'clinical.diagnoses',
        'clinical.medical_cases',
        'clinical.medical_images',
        'clinical.patients',
        'clinical.prescriptions',
        'clinical.treatment_plans',
        'ward.access_grants',
        'ward.api_keys',
        'ward.blind_index_keys',
        'ward.blind_index_normalization',
        'ward.break_glass_sessions',
        'ward.encryption_keys',
        'ward.login_challenges',
        'ward.review_tasks',
        'ward.security_alerts',
        'ward.sessions',
        'ward.user_activations',
        'ward.users',
      ]);
      // ward_app may update organization_id nowhere; a row cannot be moved by any request.
      assert.deepEqual(
        orgFrozen,
        tables.map((x) => `${x.schema}.${x.name}`),
      );
    });

    test('tenant A cannot insert rows into tenant B', async () => {
      const noInsert: string[] = [];
      for (const x of tables) {
        const name = `${x.schema}.${x.name}`;
        const p = await writePrivileges(t.db, x.schema, x.name);
        if (p.insertable.length === 0) {
          noInsert.push(name);
          continue;
        }
        assert.ok(
          p.insertable.includes('organization_id'),
          `${name}: organization_id not insertable`,
        );
        // A copy of one of B's real rows, restricted to the columns ward_app may insert.
        const outcome = await insertProbe(t.db, ctxA(), x.schema, x.name, b.orgId, p.insertable);
        assert.equal(outcome.kind, 'rls', `${name}: insert into B: ${show(outcome)}`);
      }
      // audit.event_patients is written only by the trigger on audit.events (migration 0020).
      assert.deepEqual(noInsert, [
        'audit.checkpoints',
        'audit.event_patients',
        'ward.blind_index_normalization',
      ]);
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
      const upd = await probe(
        t.db,
        ctxA(),
        'update ward.organizations set name = name where id = $1',
        [b.orgId],
      );
      assert.deepEqual(upd, { kind: 'rows', n: 0 });
      // ward_app has no INSERT on organizations at all (only ward_system creates them).
      const ins = await probe(
        t.db,
        ctxA(),
        "insert into ward.organizations (name, type) values ('x', 'provider')",
        [],
      );
      assert.equal(ins.kind, 'privilege');
    });

    // The grant-path policies (diagnoses_granted, treatment_plans_granted,
    // prescriptions_granted, medical_images_granted): tenant B, as a grantee of A, sees A's rows
    // only for a patient under a live grant with the table's permission and the request's
    // purpose, and nothing once the grant is revoked or expired. Runs last: it adds grants.
    test('grant-path policies open only live-granted patients, per permission and purpose', async () => {
      const granted = [
        'clinical.diagnoses',
        'clinical.treatment_plans',
        'clinical.prescriptions',
        'clinical.medical_images',
      ];
      const aDoctor = { orgId: a.orgId, userId: a.doctorId, actorType: 'user' as const };
      const p1 = (
        await t.db.asAdmin((tx) =>
          tx.query<{ id: string }>('select id from clinical.patients where organization_id = $1', [
            a.orgId,
          ]),
        )
      ).rows[0]!.id;
      const p2 = (
        await t.db.withContext({ ...aDoctor, purpose: 'TREAT' }, (tx) =>
          createPatient(
            tx,
            fixtureCrypto.codec,
            a.orgId,
            a.doctorId,
            {
              mrn: 'MRN-A-2',
              firstName: 'Second',
              lastName: 'Synthetic',
              dateOfBirth: '1980-01-01',
            },
            { fields: [], clinical: false },
          ),
        )
      ).value.id;
      const owned = new Map<string, number>();
      for (const rel of granted) {
        const r = await t.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            `select count(*)::int as n from ${rel} where organization_id = $1 and patient_id = $2`,
            [a.orgId, p1],
          ),
        );
        assert.ok(r.rows[0]!.n > 0, `${rel}: the fixture patient should own rows`);
        owned.set(rel, r.rows[0]!.n);
      }
      const all = [
        'patient:read',
        'case:read',
        'diagnosis:read',
        'treatment_plan:read',
        'image:read',
      ];
      const issue = (patientId: string, permissions: string[], from: string, until: string) =>
        t.db.withContext(
          aDoctor,
          async (tx) =>
            (
              await tx.query<{ id: string }>(
                `insert into ward.access_grants (organization_id, grantee_organization_id, patient_id,
                 permissions, purposes, valid_from, valid_until, justification_type, justification_id)
               values ($1, $2, $3, $4, array['TREAT'], now() + $5::interval, now() + $6::interval,
                       'probe', gen_random_uuid()) returning id`,
                [a.orgId, b.orgId, patientId, permissions, from, until],
              )
            ).rows[0]!.id,
        );
      const revoke = (id: string) =>
        t.db.withContext(aDoctor, (tx) =>
          tx.query('update ward.access_grants set revoked_at = now() where id = $1', [id]),
        );
      // What B sees of A's rows in each table: [all rows, rows of patients other than p1].
      const seen = async (purpose: string) => {
        const out: Record<string, [number, number]> = {};
        for (const rel of granted) {
          const r = await t.db.withContext(
            { orgId: b.orgId, userId: b.doctorId, actorType: 'user', purpose },
            (tx) =>
              tx.query<{ n: number; other: number }>(
                `select count(*)::int as n, count(*) filter (where patient_id <> $2)::int as other
                   from ${rel} where organization_id = $1`,
                [a.orgId, p1],
              ),
          );
          out[rel] = [r.rows[0]!.n, r.rows[0]!.other];
        }
        return out;
      };
      const nothing = Object.fromEntries(granted.map((rel) => [rel, [0, 0]]));
      const p1Rows = Object.fromEntries(granted.map((rel) => [rel, [owned.get(rel)!, 0]]));

      assert.deepEqual(await seen('TREAT'), nothing, 'no grant to B yet');
      const other = await issue(p2, all, '0 seconds', '1 hour');
      assert.deepEqual(await seen('TREAT'), nothing, 'a grant of another patient');
      const readOnly = await issue(p1, ['patient:read'], '0 seconds', '1 hour');
      assert.deepEqual(await seen('TREAT'), nothing, 'a grant without the tables permissions');
      await issue(p1, all, '-2 hours', '-1 hour');
      assert.deepEqual(await seen('TREAT'), nothing, 'an expired grant');
      const live = await issue(p1, all, '0 seconds', '1 hour');
      assert.deepEqual(await seen('TREAT'), p1Rows, 'a live grant for TREAT');
      assert.deepEqual(await seen('HPAYMT'), nothing, 'another purpose');
      await revoke(live);
      assert.deepEqual(await seen('TREAT'), nothing, 'after revocation');
      await revoke(other);
      await revoke(readOnly);
    });
  });
}

// The probes above must be able to fail: in a scratch database of its own, a deliberately
// permissive policy is added and the same probes must catch it (before migration 0015's
// probe rewrite, the INSERT probe died on a privilege error and passed anyway).
describe('the cross-tenant write probes catch permissive policies', () => {
  let t: TestDatabase;
  let a: TenantFixture;
  let b: TenantFixture;
  before(async () => {
    t = await createTestDatabase({ engine: defaultEngine() });
    a = await seedTenant(t.db, 'PA');
    b = await seedTenant(t.db, 'PB');
    await t.db.asAdmin(async (tx) => {
      await tx.exec('CREATE POLICY evil_insert ON clinical.patients FOR INSERT WITH CHECK (true)');
      // UPDATE and DELETE with a WHERE clause also need the rows visible (SELECT policies).
      await tx.exec('CREATE POLICY evil_all ON ward.users USING (true) WITH CHECK (true)');
      await tx.exec('CREATE POLICY evil_all ON ward.access_policies USING (true)');
    });
  });
  after(async () => t.close());
  const ctxA = (): RequestContext => ({ orgId: a.orgId, userId: a.adminId, actorType: 'user' });

  test('an INSERT policy WITH CHECK (true) is not reported as refused', async () => {
    const p = await writePrivileges(t.db, 'clinical', 'patients');
    const outcome = await insertProbe(t.db, ctxA(), 'clinical', 'patients', b.orgId, p.insertable);
    assert.notEqual(outcome.kind, 'rls', show(outcome));
    assert.notEqual(outcome.kind, 'privilege', show(outcome));
  });

  test('policies USING (true) let UPDATE and DELETE reach the other tenant', async () => {
    const updated = await probe(
      t.db,
      ctxA(),
      'update ward.users set display_name = display_name where organization_id = $1',
      [b.orgId],
    );
    assert.ok(updated.kind === 'rows' && updated.n > 0, show(updated));
    const deleted = await probe(
      t.db,
      ctxA(),
      'delete from ward.access_policies where organization_id = $1',
      [b.orgId],
    );
    assert.ok(deleted.kind === 'rows' && deleted.n > 0, show(deleted));
  });
});
