import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate } from '../../src/platform/db/migrate.ts';
import type { RequestContext, Tx } from '../../src/platform/db/index.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import { classify, probe, show } from '../helpers/tenant-probe.ts';

// Lower-severity findings of the security review (migration 0015 and the migrator's
// bootstrap), each attacked the way the review did.
for (const engine of availableEngines()) {
  describe(`privilege hardening (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    let b: TenantFixture;
    before(async () => {
      t = await createTestDatabase({ engine });
      a = await seedTenant(t.db, 'PH-A');
      b = await seedTenant(t.db, 'PH-B');
    });
    after(async () => t.close());

    const ctxA = (): RequestContext => ({ orgId: a.orgId, userId: a.adminId, actorType: 'user' });
    const kind = async (sql: string, params: unknown[]) => {
      const o = await probe(t.db, ctxA(), sql, params);
      return o.kind === 'rows' ? 'ok' : o.kind === 'error' ? show(o) : o.kind;
    };
    const roleOf = async (name: string) =>
      (
        await t.db.asAdmin((tx) =>
          tx.query<{ id: string }>(
            'select id from ward.roles where organization_id = $1 and name = $2',
            [a.orgId, name],
          ),
        )
      ).rows[0]!.id;

    test('a request cannot mint a built-in role', async () => {
      assert.equal(
        await kind(
          "insert into ward.roles (organization_id, name, is_builtin) values ($1, 'shadow-admin', true)",
          [a.orgId],
        ),
        'privilege',
      );
      assert.equal(
        await kind("insert into ward.roles (organization_id, name) values ($1, 'custom-role')", [
          a.orgId,
        ]),
        'ok',
      );
    });

    test('a request cannot back-date a role assignment or a role permission', async () => {
      const doctor = await roleOf('doctor');
      const admin = await roleOf('admin');
      assert.equal(
        await kind(
          `insert into ward.user_roles (organization_id, user_id, role_id, granted_at)
           values ($1, $2, $3, '2001-01-01')`,
          [a.orgId, a.doctorId, admin],
        ),
        'privilege',
      );
      assert.equal(
        await kind(
          `insert into ward.role_permissions (organization_id, role_id, permission_id, created_at)
           values ($1, $2, 'grant:manage', '2001-01-01')`,
          [a.orgId, doctor],
        ),
        'privilege',
      );
      assert.equal(
        await kind(
          `insert into ward.user_roles (organization_id, user_id, role_id, granted_by)
           values ($1, $2, $3, $4)`,
          [a.orgId, a.doctorId, admin, a.adminId],
        ),
        'ok',
      );
    });

    test('revoking an access grant is one-way, for every role', async () => {
      const patient = (
        await t.db.asAdmin((tx) =>
          tx.query<{ id: string }>('select id from clinical.patients where organization_id = $1', [
            a.orgId,
          ]),
        )
      ).rows[0]!.id;
      const id = await t.db.withContext(ctxA(), async (tx) => {
        const r = await tx.query<{ id: string }>(
          `insert into ward.access_grants (organization_id, grantee_organization_id, patient_id, permissions,
             purposes, valid_until, justification_type, justification_id)
           values ($1, $2, $3, array['patient:read'], array['TREAT'], now() + interval '1 hour',
                   'probe', gen_random_uuid()) returning id`,
          [a.orgId, b.orgId, patient],
        );
        await tx.query(
          'update ward.access_grants set revoked_at = now(), revoked_by = $2 where id = $1',
          [r.rows[0]!.id, a.adminId],
        );
        return r.rows[0]!.id;
      });
      const attempt = (run: (fn: (tx: Tx) => Promise<unknown>) => Promise<unknown>, sql: string) =>
        run((tx) => tx.query(sql, [id])).then(
          () => 'changed',
          (e: unknown) => {
            const o = classify(e);
            return o.kind === 'error' && /stays revoked/.test(o.message) ? 'refused' : show(o);
          },
        );
      const asA = (fn: (tx: Tx) => Promise<unknown>) => t.db.withContext(ctxA(), fn);
      const asSystem = (fn: (tx: Tx) => Promise<unknown>) =>
        t.db.asSystem({ name: 'test.unrevoke', reason: 'test' }, fn);
      const unrevoke = 'update ward.access_grants set revoked_at = null where id = $1';
      const redate =
        "update ward.access_grants set revoked_at = now() + interval '1 day' where id = $1";
      for (const run of [asA, asSystem]) {
        assert.equal(await attempt(run, unrevoke), 'refused');
        assert.equal(await attempt(run, redate), 'refused');
      }
      const still = await t.db.asAdmin((tx) =>
        tx.query<{ revoked: boolean }>(
          'select revoked_at is not null as revoked from ward.access_grants where id = $1',
          [id],
        ),
      );
      assert.equal(still.rows[0]?.revoked, true);
    });

    test('PUBLIC has no TEMPORARY on the database after migrate', async () => {
      // A cloned test database starts with default database privileges; migrate's bootstrap
      // (which runs on every migrate, even with nothing pending) takes TEMPORARY away.
      await migrate(t.db);
      const r = await t.db.asAdmin((tx) =>
        tx.query<{ pub: boolean; app: boolean; owner: boolean }>(
          `select has_database_privilege('public', current_database(), 'TEMPORARY') as pub,
                  has_database_privilege('ward_app', current_database(), 'TEMPORARY') as app,
                  has_database_privilege('ward_owner', current_database(), 'TEMPORARY') as owner`,
        ),
      );
      assert.deepEqual(r.rows[0], { pub: false, app: false, owner: true });
      const temp = await probe(t.db, ctxA(), 'create temporary table probe_shadow (x int)', []);
      assert.equal(temp.kind, 'privilege', show(temp));
    });
  });
}
