import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  goodPassword,
  login,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// Handling security alerts and break-glass reviews changes the organization's security state,
// and the audit trail, alerts, reviews, sessions and API keys are its security records: a
// password alone must not reach them. Each permission is held alone, through a role the
// organization named, so nothing else about the holder can be what asks for MFA.
const cases: readonly {
  permission: string;
  method: 'GET' | 'POST';
  url: (self: string) => string;
  payload?: object;
}[] = [
  {
    permission: 'alert:manage',
    method: 'POST',
    url: () => `/security-alerts/${randomUUID()}/acknowledge`,
  },
  {
    permission: 'review_task:close',
    method: 'POST',
    url: () => `/access/review-tasks/${randomUUID()}/close`,
    payload: { resolution: 'appropriate' },
  },
  { permission: 'audit:read', method: 'GET', url: () => '/audit/events' },
  { permission: 'alert:read', method: 'GET', url: () => '/security-alerts' },
  { permission: 'review_task:read', method: 'GET', url: () => '/access/review-tasks' },
  { permission: 'session:read', method: 'GET', url: (self) => `/users/${self}/sessions` },
  { permission: 'api_key:read', method: 'GET', url: () => '/api-keys' },
];

describe('security-state and security-record permissions require MFA', () => {
  let api: TestApi;
  let orgId: string;
  before(async () => {
    api = await createTestApi();
    orgId = (await createOrganization(api.t.db, { name: 'Org MFA perms', type: 'provider' })).id;
  });
  after(async () => api.close());

  /** A role holding exactly `permission`, as an organization would define it. */
  const roleWith = (name: string, permission: string) =>
    api.t.db.asAdmin(async (tx) => {
      const r = await tx.query<{ id: string }>(
        'insert into ward.roles (organization_id, name) values ($1, $2) returning id',
        [orgId, name],
      );
      await tx.query(
        'insert into ward.role_permissions (organization_id, role_id, permission_id) values ($1, $2, $3)',
        [orgId, r.rows[0]!.id, permission],
      );
    });
  const call = (token: string, c: (typeof cases)[number], self: string) =>
    api.app.inject({
      method: c.method,
      url: `/api/v1${c.url(self)}`,
      headers: auth(token),
      ...(c.payload ? { payload: c.payload } : {}),
    });

  for (const c of cases) {
    test(`${c.permission}: refused on a password alone, allowed with MFA`, async () => {
      const role = `holds-${c.permission.replace(/[^a-z]/g, '-')}`;
      await roleWith(role, c.permission);
      const email = `${role}@mfa-perms.example.test`;
      const user = await createUser(api.t.db, { orgId, email, role, password: goodPassword });
      const passwordOnly = await tokenFor(api, email);
      const refused = await call(passwordOnly, c, user.id);
      assert.equal(refused.statusCode, 403, refused.body);
      assert.match(refused.json<{ detail: string }>().detail, /mfa_enrollment_required/);
      const { secret } = await enrollTotp(api, passwordOnly, Date.now() - 30_000);
      const withCode = await login(api, email, goodPassword, {
        totpCode: totpCode(base32Decode(secret), Date.now()),
      });
      const token = String(withCode.body['accessToken']);
      const allowed = await call(token, c, user.id);
      assert.ok(
        allowed.statusCode === 200 || allowed.statusCode === 404,
        `${allowed.statusCode} ${allowed.body}`,
      );
    });
  }

  test('a session without MFA loses alert handling the moment its holder is given it', async () => {
    await roleWith('alert-desk', 'alert:manage');
    const email = 'alert-desk@mfa-perms.example.test';
    const user = await createUser(api.t.db, {
      orgId,
      email,
      role: 'doctor',
      password: goodPassword,
    });
    const doctor = await tokenFor(api, email);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(doctor) })).statusCode,
      200,
    );
    await api.t.db.asAdmin((tx) =>
      tx.query(
        `insert into ward.user_roles (organization_id, user_id, role_id)
         select $1, $2, id from ward.roles where organization_id = $1 and name = 'alert-desk'`,
        [orgId, user.id],
      ),
    );
    const r = await call(doctor, cases[0]!, user.id);
    assert.equal(r.statusCode, 403, r.body);
    assert.match(r.json<{ detail: string }>().detail, /mfa_required/);
  });
});
