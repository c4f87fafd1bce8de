import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';

describe('brute force, lockout and session lifetime', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let adminToken: string;
  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'Lock', ['admin', 'doctor', 'nurse']);
    adminToken = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, adminToken);
  });
  after(async () => api.close());

  test('repeated wrong passwords lock the account; the right one then fails too; unlock restores it', async () => {
    const email = org.users['doctor']!.email;
    for (let i = 0; i < 5; i++)
      assert.equal(
        (await login(api, email, `wrong guess number ${i}`, {}, '10.1.0.1')).status,
        401,
      );
    const during = await login(api, email, goodPassword, {}, '10.1.0.2');
    assert.equal(during.status, 401, 'the right password during lockout does not log in');
    assert.equal(during.body['code'], 'login_failed');
    assert.equal(await countEvents(api, 'auth.login', 'bad_password'), 5);
    assert.equal(await countEvents(api, 'auth.login', 'account_locked'), 1);
    const alerts = await api.app.inject({
      url: '/api/v1/security-alerts',
      headers: auth(adminToken),
    });
    assert.equal(alerts.statusCode, 200);
    assert.ok(
      alerts
        .json<{ items: { kind: string }[] }>()
        .items.some((a) => a.kind === 'auth.account_locked'),
    );
    const user = await api.app.inject({
      url: `/api/v1/users/${org.users['doctor']!.id}`,
      headers: auth(adminToken),
    });
    assert.ok(user.json<{ lockedUntil: string | null }>().lockedUntil);
    const unlock = await api.app.inject({
      method: 'POST',
      url: `/api/v1/users/${org.users['doctor']!.id}/unlock`,
      headers: auth(adminToken),
    });
    assert.equal(unlock.statusCode, 200);
    assert.equal((await login(api, email, goodPassword, {}, '10.1.0.3')).status, 200);
  });

  test('an unknown email is locked just like a real one', async () => {
    for (let i = 0; i < 6; i++)
      await login(api, 'ghost@example.test', `guess ${i}`, {}, '10.2.0.1');
    assert.equal(await countEvents(api, 'auth.login', 'account_locked'), 1 + 1);
  });

  test('one IPv6 client spraying from fresh addresses of its /64 is throttled too', async () => {
    let last = 0;
    for (let i = 0; i < 31; i++) {
      const ip = `2001:db8:77:1::${(i + 1).toString(16)}`;
      last = (await login(api, `spray6-${i}@example.test`, 'password guess', {}, ip)).status;
    }
    assert.equal(last, 429, 'every address of the /64 counts against one throttle');
    assert.equal(
      (await login(api, 'spray6-x@example.test', 'password guess', {}, '2001:db8:77:2::1')).status,
      401,
      'another /64 is another client',
    );
  });

  test('one address spraying many accounts is throttled with 429', async () => {
    let last = 0;
    for (let i = 0; i < 31; i++)
      last = (await login(api, `spray${i}@example.test`, 'password guess', {}, '10.9.9.9')).status;
    assert.equal(last, 429);
    assert.equal(
      (await login(api, org.users['nurse']!.email, goodPassword, {}, '10.9.9.9')).status,
      429,
    );
    assert.equal(
      (await login(api, org.users['nurse']!.email, goodPassword, {}, '10.9.9.10')).status,
      200,
      'other addresses are unaffected',
    );
  });

  test('expired, idle, revoked and disabled-user sessions are refused on the next request', async () => {
    const tokens = await Promise.all(
      [1, 2, 3, 4].map(() => tokenFor(api, org.users['nurse']!.email)),
    );
    const [expired, idle, revoked, other] = tokens as [string, string, string, string];
    const sid = (t: string) =>
      `${t.slice(36, 44)}-${t.slice(44, 48)}-${t.slice(48, 52)}-${t.slice(52, 56)}-${t.slice(56, 68)}`;
    await api.t.db.asAdmin(async (tx) => {
      await tx.query(
        "update ward.sessions set expires_at = now() - interval '1 second' where id = $1",
        [sid(expired)],
      );
      await tx.query(
        "update ward.sessions set last_seen_at = now() - interval '16 minutes' where id = $1",
        [sid(idle)],
      );
    });
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(expired) })).statusCode,
      401,
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(idle) })).statusCode,
      401,
    );
    assert.equal(await countEvents(api, 'auth.request', 'session_expired'), 1);
    assert.equal(await countEvents(api, 'auth.request', 'session_idle'), 1);

    assert.equal(
      (await api.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: auth(revoked) }))
        .statusCode,
      200,
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(revoked) })).statusCode,
      401,
    );

    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(other) })).statusCode,
      200,
    );
    const current = await api.app.inject({
      url: `/api/v1/users/${org.users['nurse']!.id}`,
      headers: auth(adminToken),
    });
    const disable = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${org.users['nurse']!.id}`,
      headers: { ...auth(adminToken), 'if-match': String(current.headers.etag) },
      payload: { status: 'disabled' },
    });
    assert.equal(disable.statusCode, 200);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(other) })).statusCode,
      401,
    );
    assert.equal(
      (await login(api, org.users['nurse']!.email)).status,
      401,
      'a disabled user cannot log in',
    );
  });

  test('sessions can be listed and revoked by their owner, not by another user', async () => {
    const a = await tokenFor(api, org.users['doctor']!.email);
    const b = await tokenFor(api, org.users['doctor']!.email);
    const list = await api.app.inject({ url: '/api/v1/auth/sessions', headers: auth(a) });
    const items = list.json<{ items: { id: string }[] }>().items;
    assert.ok(items.length >= 2);
    const bId = `${b.slice(36, 44)}-${b.slice(44, 48)}-${b.slice(48, 52)}-${b.slice(52, 56)}-${b.slice(56, 68)}`;
    assert.equal(
      (
        await api.app.inject({
          method: 'DELETE',
          url: `/api/v1/auth/sessions/${bId}`,
          headers: auth(a),
        })
      ).statusCode,
      200,
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(b) })).statusCode,
      401,
    );
    // The admin's own session list does not include the doctor's, and cannot revoke them as "self".
    const admins = await api.app.inject({
      url: '/api/v1/auth/sessions',
      headers: auth(adminToken),
    });
    assert.ok(!admins.json<{ items: { id: string }[] }>().items.some((s) => s.id === bId));
    const aId = `${a.slice(36, 44)}-${a.slice(44, 48)}-${a.slice(48, 52)}-${a.slice(52, 56)}-${a.slice(56, 68)}`;
    assert.equal(
      (
        await api.app.inject({
          method: 'DELETE',
          url: `/api/v1/auth/sessions/${aId}`,
          headers: auth(adminToken),
        })
      ).statusCode,
      404,
    );
  });

  test('a password change ends the other sessions', async () => {
    const fresh = await seedOrg(api, 'Pw', ['doctor']);
    const email = fresh.users['doctor']!.email;
    const keep = await tokenFor(api, email);
    const other = await tokenFor(api, email);
    const weak = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: auth(keep),
      payload: { currentPassword: goodPassword, newPassword: 'passwordpassword' },
    });
    assert.equal(weak.statusCode, 400);
    const r = await api.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: auth(keep),
      payload: { currentPassword: goodPassword, newPassword: 'seven quiet harbor lanterns' },
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json<{ sessionsEnded: number }>().sessionsEnded, 1);
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(other) })).statusCode,
      401,
    );
    assert.equal(
      (await api.app.inject({ url: '/api/v1/auth/me', headers: auth(keep) })).statusCode,
      200,
    );
    assert.equal((await login(api, email, 'seven quiet harbor lanterns')).status, 200);
  });

  test('a legacy bcrypt hash logs in and is upgraded to argon2id', async () => {
    const fresh = await seedOrg(api, 'Legacy', ['doctor']);
    const { default: bcrypt } = await import('bcryptjs');
    const legacy = await bcrypt.hash('short legacy pw', 10);
    await api.t.db.asAdmin((tx) =>
      tx.query('update ward.users set password_hash = $2 where id = $1', [
        fresh.users['doctor']!.id,
        legacy,
      ]),
    );
    assert.equal((await login(api, fresh.users['doctor']!.email, 'short legacy pw')).status, 200);
    const r = await api.t.db.asAdmin((tx) =>
      tx.query<{ h: string }>('select password_hash as h from ward.users where id = $1', [
        fresh.users['doctor']!.id,
      ]),
    );
    assert.match(r.rows[0]!.h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal((await login(api, fresh.users['doctor']!.email, 'short legacy pw')).status, 200);
    assert.equal((await login(api, fresh.users['doctor']!.email, 'wrong legacy pw')).status, 401);
  });
});

describe('guessing credentials through a signed-in session', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let adminToken: string;
  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'Guess', ['admin', 'doctor', 'nurse']);
    adminToken = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, adminToken);
  });
  after(async () => api.close());

  const unlock = async (role: string) => {
    const r = await api.app.inject({
      method: 'POST',
      url: `/api/v1/users/${org.users[role]!.id}/unlock`,
      headers: auth(adminToken),
    });
    assert.equal(r.statusCode, 200, r.body);
  };

  test('guessing the current password through a session counts like failed logins', async () => {
    const email = org.users['doctor']!.email;
    const session = await tokenFor(api, email);
    const change = (currentPassword: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: auth(session),
        payload: { currentPassword, newPassword: 'a brand new passphrase for the doctor' },
      });
    const eventsBefore = await countEvents(api, 'auth.step_up', 'bad_password');
    for (let i = 0; i < 5; i++) {
      const r = await change(`wrong current password ${i}`);
      assert.equal(r.statusCode, 400, r.body);
      assert.doesNotMatch(r.body, /wrong current password/);
    }
    assert.equal(await countEvents(api, 'auth.step_up', 'bad_password'), eventsBefore + 5);
    // Locked: the right current password is refused now, and so is a login.
    const right = await change(goodPassword);
    assert.equal(right.statusCode, 429, right.body);
    assert.equal((await login(api, email, goodPassword, {}, '10.1.1.2')).status, 401);
    const user = await api.app.inject({
      url: `/api/v1/users/${org.users['doctor']!.id}`,
      headers: auth(adminToken),
    });
    assert.ok(user.json<{ lockedUntil: string | null }>().lockedUntil);
    await unlock('doctor');
    assert.equal((await login(api, email, goodPassword, {}, '10.1.1.3')).status, 200);
  });

  test('parallel guesses through one session are counted one by one', async () => {
    const email = org.users['doctor']!.email;
    const session = await tokenFor(api, email);
    const before = await countEvents(api, 'auth.step_up', 'bad_password');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        api.app.inject({
          method: 'POST',
          url: '/api/v1/auth/password',
          headers: auth(session),
          payload: {
            currentPassword: `parallel wrong guess ${i}`,
            newPassword: 'another brand new passphrase here',
          },
        }),
      ),
    );
    const codes = answers.map((r) => r.statusCode);
    const wrong = codes.filter((c) => c === 400).length;
    assert.equal(wrong, 5, `only the threshold's worth are checked: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 429).length, 7, codes.join(','));
    assert.equal(await countEvents(api, 'auth.step_up', 'bad_password'), before + 5);
    await unlock('doctor');
  });

  test('wrong step-up authenticator codes count like failed logins', async () => {
    const email = org.users['nurse']!.email;
    const session = await tokenFor(api, email);
    const { secret } = await enrollTotp(api, session);
    const regenerate = (code: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/recovery-codes',
        headers: auth(session),
        payload: { code },
      });
    const right = () => totpCode(base32Decode(secret), Date.now());
    for (let i = 0; i < 5; i++) {
      let guess = String(100000 + i);
      if (guess === right()) guess = String(200000 + i);
      assert.equal((await regenerate(guess)).statusCode, 403);
    }
    assert.equal(await countEvents(api, 'auth.step_up', 'bad_totp_code'), 5);
    assert.equal((await regenerate(right())).statusCode, 429, 'locked, even for the right code');
    assert.equal((await login(api, email, goodPassword, {}, '10.1.2.2')).status, 401);
    await unlock('nurse');
  });
});
