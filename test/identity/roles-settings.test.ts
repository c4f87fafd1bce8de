import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  auth,
  createTestApi,
  enrollTotp,
  goodPassword,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';
import { createUser } from '../../src/modules/tenancy/service.ts';

describe('organization-defined roles and security settings', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let admin: string;
  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'Roles', ['admin', 'doctor', 'auditor', 'nurse']);
    admin = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, admin);
  });
  after(async () => api.close());

  test('an admin creates a role from permissions it holds, and assigns it', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/roles',
      headers: auth(admin),
      payload: {
        name: 'key-officer',
        description: 'Watches key status',
        permissions: ['key:read'],
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const roles = await api.app.inject({ url: '/api/v1/roles', headers: auth(admin) });
    const names = roles
      .json<{ items: { name: string; builtin: boolean }[] }>()
      .items.map((r) => r.name);
    assert.ok(names.includes('key-officer') && names.includes('doctor'));
    const assign = await api.app.inject({
      method: 'POST',
      url: `/api/v1/users/${org.users['auditor']!.id}/roles`,
      headers: auth(admin),
      payload: { role: 'key-officer' },
    });
    assert.equal(assign.statusCode, 200);
    assert.deepEqual(assign.json<{ roles: string[] }>().roles, ['auditor', 'key-officer']);
  });

  test('an admin cannot mint a role with permissions it lacks (no PHI through the back door)', async () => {
    const r = await api.app.inject({
      method: 'POST',
      url: '/api/v1/roles',
      headers: auth(admin),
      payload: { name: 'sneaky', permissions: ['patient:read'] },
    });
    assert.equal(r.statusCode, 403);
    const unknown = await api.app.inject({
      method: 'POST',
      url: '/api/v1/roles',
      headers: auth(admin),
      payload: { name: 'odd', permissions: ['nothing:here'] },
    });
    assert.equal(unknown.statusCode, 400);
    const doctor = await tokenFor(api, org.users['doctor']!.email);
    assert.equal(
      (
        await api.app.inject({
          method: 'POST',
          url: '/api/v1/roles',
          headers: auth(doctor),
          payload: { name: 'mine', permissions: [] },
        })
      ).statusCode,
      403,
    );
  });

  test('a custom role nobody holds can be deleted; built-in and assigned roles cannot', async () => {
    const make = async (name: string) => {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/roles',
        headers: auth(admin),
        payload: { name, permissions: ['key:read'] },
      });
      assert.equal(r.statusCode, 201, r.body);
      return r.json<{ id: string }>().id;
    };
    const del = (id: string, token = admin) =>
      api.app.inject({ method: 'DELETE', url: `/api/v1/roles/${id}`, headers: auth(token) });
    const names = async () =>
      (await api.app.inject({ url: '/api/v1/roles', headers: auth(admin) })).json<{
        items: { id: string; name: string; builtin: boolean }[];
      }>().items;

    const spare = await make('spare-role');
    const doctor = await tokenFor(api, org.users['doctor']!.email);
    const denied = await del(spare, doctor);
    assert.equal(denied.statusCode, 403, 'deleting a role needs role:manage');
    const gone = await del(spare);
    assert.equal(gone.statusCode, 200, gone.body);
    assert.ok(!(await names()).some((r) => r.id === spare));
    assert.equal((await del(spare)).statusCode, 404, 'a deleted role is not found again');
    const events = await api.t.db.asAdmin((tx) =>
      tx.query<{ metadata: { name: string } }>(
        "select metadata from audit.events where event_type = 'role.delete' and entity_id = $1",
        [spare],
      ),
    );
    assert.equal(events.rows.length, 1);
    assert.equal(events.rows[0]?.metadata.name, 'spare-role');

    const builtin = (await names()).find((r) => r.name === 'doctor');
    const refused = await del(builtin!.id);
    assert.equal(refused.statusCode, 409);
    assert.match(refused.json<{ detail: string }>().detail, /Built-in roles cannot be deleted/);

    const held = await make('held-role');
    const assign = await api.app.inject({
      method: 'POST',
      url: `/api/v1/users/${org.users['auditor']!.id}/roles`,
      headers: auth(admin),
      payload: { role: 'held-role' },
    });
    assert.equal(assign.statusCode, 200, assign.body);
    const inUse = await del(held);
    assert.equal(inUse.statusCode, 409);
    assert.match(inUse.json<{ detail: string }>().detail, /still assigned/);
    assert.ok(
      (await names()).some((r) => r.id === held),
      'a refused deletion changes nothing',
    );
    const unassign = await api.app.inject({
      method: 'POST',
      url: `/api/v1/users/${org.users['auditor']!.id}/roles/remove`,
      headers: auth(admin),
      payload: { role: 'held-role' },
    });
    assert.equal(unassign.statusCode, 200, unassign.body);
    assert.equal((await del(held)).statusCode, 200);
  });

  test('tightening a built-in role takes effect on the next request', async () => {
    const doctor = await tokenFor(api, org.users['doctor']!.email);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/organization', headers: auth(doctor) })).statusCode,
      200,
    );
    const roles = (await api.app.inject({ url: '/api/v1/roles', headers: auth(admin) })).json<{
      items: { id: string; name: string; permissions: string[] }[];
    }>().items;
    const doctorRole = roles.find((r) => r.name === 'doctor')!;
    const tightened = doctorRole.permissions.filter((x) => x !== 'organization:read');
    const r = await api.app.inject({
      method: 'PUT',
      url: `/api/v1/roles/${doctorRole.id}/permissions`,
      headers: auth(admin),
      payload: { permissions: tightened },
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/organization', headers: auth(doctor) })).statusCode,
      403,
    );
    const widen = await api.app.inject({
      method: 'PUT',
      url: `/api/v1/roles/${doctorRole.id}/permissions`,
      headers: auth(admin),
      payload: { permissions: [...tightened, 'audit:verify'] },
    });
    assert.equal(widen.statusCode, 403, 'widening beyond the admin’s own permissions is refused');
  });

  test('MFA can be required for more roles but never lifted for admin', async () => {
    const existing = await tokenFor(api, org.users['nurse']!.email);
    // Settings updates are conditional: read the current ETag first.
    const etag = async () =>
      String(
        (await api.app.inject({ url: '/api/v1/organization', headers: auth(admin) })).headers.etag,
      );
    const lift = await api.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization/settings',
      headers: { ...auth(admin), 'if-match': await etag() },
      payload: { mfaRequiredRoles: ['doctor'] },
    });
    assert.equal(lift.statusCode, 400);
    const add = await api.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization/settings',
      headers: { ...auth(admin), 'if-match': await etag() },
      payload: { mfaRequiredRoles: ['admin', 'nurse'] },
    });
    assert.equal(add.statusCode, 200, add.body);
    const r = await api.app.inject({ url: '/api/v1/roles', headers: auth(existing) });
    assert.equal(r.statusCode, 403, 'an existing nurse session now owes MFA');
    assert.match(r.json<{ detail: string }>().detail, /mfa_required/);
    const fresh = await tokenFor(api, org.users['nurse']!.email);
    const f = await api.app.inject({ url: '/api/v1/roles', headers: auth(fresh) });
    assert.match(
      f.json<{ detail: string }>().detail,
      /mfa_enrollment_required/,
      'a new login must enroll first',
    );
  });

  const roleNamed = async (name: string) =>
    (await api.app.inject({ url: '/api/v1/roles', headers: auth(admin) }))
      .json<{ items: { id: string; name: string; permissions: string[] }[] }>()
      .items.find((r) => r.name === name)!;
  const assignRole = (userId: string, role: string, remove = false) =>
    api.app.inject({
      method: 'POST',
      url: `/api/v1/users/${userId}/roles${remove ? '/remove' : ''}`,
      headers: auth(admin),
      payload: { role },
    });

  test('administrative permissions require MFA, whatever the role is called', async () => {
    const doctorId = org.users['doctor']!.id;
    const existing = await tokenFor(api, org.users['doctor']!.email);
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/roles',
      headers: auth(admin),
      payload: { name: 'shadow-admin', permissions: ['user:create', 'role:manage'] },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((await assignRole(doctorId, 'shadow-admin')).statusCode, 200);
    const r = await api.app.inject({ url: '/api/v1/roles', headers: auth(existing) });
    assert.equal(r.statusCode, 403, 'a password-only session may not use admin powers');
    assert.match(r.json<{ detail: string }>().detail, /mfa_required/);
    const fresh = await tokenFor(api, org.users['doctor']!.email);
    const f = await api.app.inject({ url: '/api/v1/roles', headers: auth(fresh) });
    assert.match(f.json<{ detail: string }>().detail, /mfa_enrollment_required/);
    assert.equal((await assignRole(doctorId, 'shadow-admin', true)).statusCode, 200);
    const after = await tokenFor(api, org.users['doctor']!.email);
    const me = await api.app.inject({ url: '/api/v1/auth/me', headers: auth(after) });
    assert.equal(me.statusCode, 200);
    const roles = await api.app.inject({ url: '/api/v1/roles', headers: auth(after) });
    assert.equal(roles.statusCode, 403, 'without the role the doctor may not manage roles');
    assert.doesNotMatch(roles.body, /mfa/, 'and owes no MFA again');
  });

  test('nobody gives themselves a role with permissions they do not hold', async () => {
    const adminId = org.users['admin']!.id;
    const r = await assignRole(adminId, 'doctor');
    assert.equal(r.statusCode, 403, r.body);
    assert.match(r.json<{ detail: string }>().detail, /patient:read/);
    // The same id in capitals is still oneself (UUIDs compare case-insensitively).
    const upper = await assignRole(adminId.toUpperCase(), 'doctor');
    assert.equal(upper.statusCode, 403, upper.body);
    const me = await api.app.inject({ url: `/api/v1/users/${adminId}`, headers: auth(admin) });
    assert.deepEqual(me.json<{ roles: string[] }>().roles, ['admin']);
    // Giving it to someone else is provisioning, and allowed.
    assert.equal((await assignRole(org.users['auditor']!.id, 'doctor')).statusCode, 200);
    assert.equal((await assignRole(org.users['auditor']!.id, 'doctor', true)).statusCode, 200);
  });

  test('the organization always keeps an active person who can manage roles', async () => {
    const adminId = org.users['admin']!.id;
    const removeSelf = await assignRole(adminId, 'admin', true);
    assert.equal(removeSelf.statusCode, 409, removeSelf.body);
    assert.match(removeSelf.json<{ detail: string }>().detail, /who can manage roles/);
    const adminRole = await roleNamed('admin');
    const strip = await api.app.inject({
      method: 'PUT',
      url: `/api/v1/roles/${adminRole.id}/permissions`,
      headers: auth(admin),
      payload: { permissions: adminRole.permissions.filter((x) => x !== 'role:manage') },
    });
    assert.equal(strip.statusCode, 409, strip.body);
    assert.ok((await roleNamed('admin')).permissions.includes('role:manage'), 'nothing changed');
    const me = await api.app.inject({ url: `/api/v1/users/${adminId}`, headers: auth(admin) });
    assert.deepEqual(me.json<{ roles: string[] }>().roles, ['admin']);
    // Someone who may update users but not manage roles cannot disable the last role manager.
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/roles',
      headers: auth(admin),
      payload: { name: 'user-keeper', permissions: ['user:read', 'user:update'] },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((await assignRole(org.users['auditor']!.id, 'user-keeper')).statusCode, 200);
    const keeper = await tokenFor(api, org.users['auditor']!.email);
    await enrollTotp(api, keeper);
    const etag = String(
      (await api.app.inject({ url: `/api/v1/users/${adminId}`, headers: auth(keeper) })).headers
        .etag,
    );
    const disable = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${adminId}`,
      headers: { ...auth(keeper), 'if-match': etag },
      payload: { status: 'disabled' },
    });
    assert.equal(disable.statusCode, 409, disable.body);
    assert.match(disable.json<{ detail: string }>().detail, /who can manage roles/);
    const still = await api.app.inject({ url: `/api/v1/users/${adminId}`, headers: auth(admin) });
    assert.equal(still.json<{ status: string }>().status, 'active');
  });
});

if (availableEngines().includes('postgres')) {
  describe('role management under concurrency (postgres)', () => {
    let api: TestApi;
    before(async () => {
      api = await createTestApi(undefined, 'postgres');
    });
    after(async () => api.close());

    test('deleting a role while it is being assigned never drops the assignment silently', async () => {
      const org = await seedOrg(api, 'Race', ['admin', 'auditor']);
      const admin = await tokenFor(api, org.users['admin']!.email);
      await enrollTotp(api, admin);
      const made = await api.app.inject({
        method: 'POST',
        url: '/api/v1/roles',
        headers: auth(admin),
        payload: { name: 'racing-role', permissions: ['key:read'] },
      });
      assert.equal(made.statusCode, 201, made.body);
      const roleId = made.json<{ id: string }>().id;
      const target = org.users['auditor']!.id;
      const waiting = async (n: number) => {
        for (let i = 0; i < 200; i++) {
          const r = await api.t.db.asAdmin((tx) =>
            tx.query<{ n: number }>(
              `select count(*)::int as n from pg_stat_activity
                where datname = current_database() and wait_event_type in ('Lock', 'advisory')`,
            ),
          );
          if ((r.rows[0]?.n ?? 0) >= n) return;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        throw new Error(`fewer than ${n} requests waiting`);
      };
      // Hold the audit table so the assignment stops after inserting its row but before its
      // commit, then start the deletion; let both go once the deletion is waiting too.
      type Sent = Awaited<ReturnType<typeof api.app.inject>>;
      let assign: Promise<Sent> | undefined;
      let remove: Promise<Sent> | undefined;
      await api.t.db.asAdmin(async (tx) => {
        await tx.query('lock table audit.events in share mode');
        assign = api.app.inject({
          method: 'POST',
          url: `/api/v1/users/${target}/roles`,
          headers: auth(admin),
          payload: { role: 'racing-role' },
        });
        await waiting(1);
        remove = api.app.inject({
          method: 'DELETE',
          url: `/api/v1/roles/${roleId}`,
          headers: auth(admin),
        });
        await waiting(2);
      });
      const [a, d] = await Promise.all([assign!, remove!]);
      const holds = await api.t.db.asAdmin((tx) =>
        tx.query('select 1 from ward.user_roles where user_id = $1 and role_id = $2', [
          target,
          roleId,
        ]),
      );
      assert.ok(
        !(a.statusCode === 200 && d.statusCode === 200),
        `both succeeded: the assignment was dropped (${a.body} / ${d.body})`,
      );
      if (a.statusCode === 200) assert.equal(holds.rows.length, 1, 'the assignment stands');
      assert.equal(d.statusCode, 409, d.body);
      assert.match(d.json<{ detail: string }>().detail, /still assigned/);
    });

    test('two administrators removing each other at once never leave nobody to manage roles', async () => {
      const org = await seedOrg(api, 'Pair', ['admin']);
      const second = `second.admin.${Date.now()}@example.test`;
      const b = await createUser(api.t.db, {
        orgId: org.orgId,
        email: second,
        role: 'admin',
        password: goodPassword,
      });
      const ids = { a: org.users['admin']!.id, b: b.id };
      const tokens = {
        a: await tokenFor(api, org.users['admin']!.email),
        b: await tokenFor(api, second),
      };
      await enrollTotp(api, tokens.a);
      await enrollTotp(api, tokens.b);
      const managers = async () =>
        (
          await api.t.db.asAdmin((tx) =>
            tx.query<{ n: number }>(
              `select count(distinct ur.user_id)::int as n from ward.user_roles ur
                 join ward.role_permissions rp on rp.organization_id = ur.organization_id and rp.role_id = ur.role_id
                where ur.organization_id = $1 and rp.permission_id = 'role:manage'`,
              [org.orgId],
            ),
          )
        ).rows[0]?.n;
      const remove = (by: 'a' | 'b', target: 'a' | 'b') =>
        api.app.inject({
          method: 'POST',
          url: `/api/v1/users/${ids[target]}/roles/remove`,
          headers: auth(tokens[by]),
          payload: { role: 'admin' },
        });
      const [x, y] = await Promise.all([remove('a', 'b'), remove('b', 'a')]);
      const codes = [x.statusCode, y.statusCode].sort();
      assert.equal(codes.filter((c) => c === 200).length, 1, `${x.body} / ${y.body}`);
      assert.equal(await managers(), 1, 'exactly one administrator is left');
    });
  });
}
