import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';
import {
  auth,
  countEvents,
  createTestApi,
  enrollTotp,
  goodPassword,
  login,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

describe('login, sessions and MFA over HTTP', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'Login', ['admin', 'doctor', 'nurse', 'auditor']);
  });
  after(async () => api.close());

  const u = (role: string) => org.users[role]!;

  test('a doctor logs in and the token identifies them', async () => {
    const r = await login(api, u('doctor').email);
    assert.equal(r.status, 200);
    assert.match(String(r.body['accessToken']), /^wst_[0-9a-f]{64}[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(String(r.body['expiresAt'])) > Date.now());
    const me = await api.app.inject({
      url: '/api/v1/auth/me',
      headers: auth(String(r.body['accessToken'])),
    });
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json<{ roles: string[] }>().roles, ['doctor']);
    assert.equal(me.json<{ actorType: string }>().actorType, 'user');
  });

  test('failures look identical whatever the cause, and each is audited', async () => {
    const before = await countEvents(api, 'auth.login');
    const wrong = await login(api, u('nurse').email, 'not the password at all');
    const unknown = await login(api, 'nobody@nowhere.test', 'not the password at all');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.body['code'], 'login_failed');
    assert.deepEqual({ ...wrong.body, instance: '' }, { ...unknown.body, instance: '' });
    assert.equal((await countEvents(api, 'auth.login')) - before, 2);
    assert.equal(await countEvents(api, 'auth.login', 'unknown_account'), 1);
  });

  test('missing, malformed, forged and cross-tenant tokens are 401', async () => {
    const token = await tokenFor(api, u('doctor').email);
    assert.equal((await api.app.inject({ url: '/api/v1/auth/me' })).statusCode, 401);
    assert.equal(
      (
        await api.app.inject({
          url: '/api/v1/auth/me',
          headers: { authorization: 'Bearer nonsense' },
        })
      ).statusCode,
      401,
    );
    // Same session id and organization, different secret.
    const forged = `${token.slice(0, 68)}${'A'.repeat(43)}`;
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(forged) })).statusCode,
      401,
    );
    // A genuine secret presented under another organization id.
    const other = await seedOrg(api, 'Other', ['doctor']);
    const moved = `wst_${other.orgId.replaceAll('-', '')}${token.slice(36)}`;
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(moved) })).statusCode,
      401,
    );
  });

  test('an admin must enroll MFA before doing anything else', async () => {
    const r = await login(api, u('admin').email);
    assert.equal(r.body['mfaEnrollmentRequired'], true);
    const token = String(r.body['accessToken']);
    const users = await api.app.inject({ url: '/api/v1/users', headers: auth(token) });
    assert.equal(users.statusCode, 403);
    assert.match(users.json<{ detail: string }>().detail, /mfa_enrollment_required/);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(token) })).statusCode,
      200,
    );
    const { recoveryCodes } = await enrollTotp(api, token);
    assert.equal(recoveryCodes.length, 10);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/users', headers: auth(token) })).statusCode,
      200,
    );
  });

  test('with MFA enrolled, the password alone yields only a challenge; codes are single-use', async () => {
    const fresh = await seedOrg(api, 'Mfa', ['doctor']);
    const email = fresh.users['doctor']!.email;
    const token = await tokenFor(api, email);
    const now = Date.now();
    const { secret, recoveryCodes } = await enrollTotp(api, token, now - 30_000);
    const key = base32Decode(secret);

    const first = await login(api, email);
    assert.equal(first.status, 200);
    assert.equal(first.body['mfaRequired'], true);
    assert.equal(first.body['accessToken'], undefined);
    const mfaToken = String(first.body['mfaToken']);
    // The challenge token is not a bearer token.
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(mfaToken) })).statusCode,
      401,
    );
    const bad = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { mfaToken, code: '000000' },
    });
    assert.equal(bad.statusCode, 401);
    const code = totpCode(key, now);
    const ok = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { mfaToken, code },
    });
    assert.equal(ok.statusCode, 200);
    // The same challenge cannot be used twice, nor the same code in a new challenge.
    assert.equal(
      (
        await api.app.inject({
          method: 'POST',
          url: '/api/v1/auth/mfa/verify',
          payload: { mfaToken, code },
        })
      ).statusCode,
      401,
    );
    const again = await login(api, email, goodPassword, { totpCode: code });
    assert.equal(again.status, 401);
    // A recovery code works once.
    const second = await login(api, email);
    const viaRecovery = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { mfaToken: second.body['mfaToken'], recoveryCode: recoveryCodes[0] },
    });
    assert.equal(viaRecovery.statusCode, 200);
    const third = await login(api, email);
    const reuse = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { mfaToken: third.body['mfaToken'], recoveryCode: recoveryCodes[0] },
    });
    assert.equal(reuse.statusCode, 401);
  });

  test('a challenge allows five attempts, then is dead even for the right code', async () => {
    const fresh = await seedOrg(api, 'Attempts', ['nurse']);
    const email = fresh.users['nurse']!.email;
    const { secret } = await enrollTotp(api, await tokenFor(api, email), Date.now() - 30_000);
    const mfaToken = (await login(api, email)).body['mfaToken'];
    for (let i = 0; i < 5; i++) {
      await api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/verify',
        payload: { mfaToken, code: '111111' },
      });
    }
    const right = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { mfaToken, code: totpCode(base32Decode(secret)) },
    });
    assert.equal(right.statusCode, 401);
  });

  test('MFA cannot be skipped by refresh, password change or API key creation', async () => {
    // A restricted (enrollment-only) admin session: refresh keeps the restriction.
    const admin = await seedOrg(api, 'Skip', ['admin']);
    const r = await login(api, admin.users['admin']!.email);
    const restricted = String(r.body['accessToken']);
    const refreshed = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      headers: auth(restricted),
    });
    assert.equal(refreshed.statusCode, 403, 'a restricted session cannot even refresh');
    const keyAttempt = await api.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: auth(restricted),
      payload: {
        principalId: admin.users['admin']!.id,
        name: 'k',
        scopes: ['user:read'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      },
    });
    assert.equal(keyAttempt.statusCode, 403);
    const pw = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: auth(restricted),
      payload: { currentPassword: goodPassword, newPassword: 'another fine passphrase here' },
    });
    assert.equal(pw.statusCode, 403);

    // Enrolled user: password change and key creation need a fresh code (step-up).
    const token = restricted;
    const { secret } = await enrollTotp(api, token, Date.now() - 30_000);
    const noCode = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: auth(token),
      payload: { currentPassword: goodPassword, newPassword: 'another fine passphrase here' },
    });
    assert.equal(noCode.statusCode, 403);
    assert.equal(noCode.json<{ code: string }>().code, 'mfa_required');
    const withCode = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: auth(token),
      payload: {
        currentPassword: goodPassword,
        newPassword: 'another fine passphrase here',
        totpCode: totpCode(base32Decode(secret)),
      },
    });
    assert.equal(withCode.statusCode, 200, withCode.body);
  });

  test('refresh rotates the token and keeps the absolute expiry', async () => {
    const r = await login(api, u('doctor').email);
    const token = String(r.body['accessToken']);
    const refreshed = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      headers: auth(token),
    });
    assert.equal(refreshed.statusCode, 200);
    const next = refreshed.json<{ accessToken: string; expiresAt: string }>();
    assert.equal(next.expiresAt, r.body['expiresAt']);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(token) })).statusCode,
      401,
      'the old token is dead',
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(next.accessToken) }))
        .statusCode,
      200,
    );
  });
});
