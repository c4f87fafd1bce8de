import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import { createUser } from '../../src/modules/tenancy/service.ts';
import { availableEngines } from '../helpers/db.ts';
import {
  activate,
  auth,
  createTestApi,
  enrollTotp,
  goodPassword,
  login,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// `user:create` alone made a clerk able to create an administrator and a doctor with passwords
// of his choosing, log in as them and read PHI. Assigning a role at creation now takes what
// assigning it later takes (role:manage, through the same evaluator and the same assignment),
// and nobody chooses another person's password: the invitee sets it with a one-time token.

for (const engine of availableEngines()) {
  describe(`creating people and activating accounts (${engine})`, () => {
    let api: TestApi;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    let admin: string;
    const lines: string[] = [];
    before(async () => {
      const sink = new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(chunk.toString());
          cb();
        },
      });
      api = await createTestApi(undefined, engine, {}, { logger: createLogger('trace', sink) });
      org = await seedOrg(api, `Invite${engine}`, ['admin']);
      admin = await tokenFor(api, org.users['admin']!.email);
      await enrollTotp(api, admin);
    });
    after(async () => api.close());

    let n = 0;
    const email = (who: string) => `${who}.${engine}.${++n}@example.test`;
    const createAs = (token: string, payload: Record<string, unknown>) =>
      api.app.inject({ method: 'POST', url: '/api/v1/users', headers: auth(token), payload });
    const invite = async (role: string) => {
      const r = await createAs(admin, { email: email(role), role });
      assert.equal(r.statusCode, 201, r.body);
      return r.json<{
        id: string;
        email: string;
        activationToken: string;
        activationExpiresAt: string;
      }>();
    };
    const usersNamed = async (address: string) =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number }>('select count(*)::int as n from ward.users where email = $1', [
            address,
          ]),
        )
      ).rows[0]?.n;

    test("the clerk's attack: user:create without role:manage creates nobody", async () => {
      const role = await api.app.inject({
        method: 'POST',
        url: '/api/v1/roles',
        headers: auth(admin),
        payload: { name: 'onboarding', permissions: ['user:create', 'user:read'] },
      });
      assert.equal(role.statusCode, 201, role.body);
      const clerkEmail = email('clerk');
      await createUser(api.t.db, {
        orgId: org.orgId,
        email: clerkEmail,
        role: 'onboarding',
        password: goodPassword,
      });
      const clerk = await tokenFor(api, clerkEmail);
      await enrollTotp(api, clerk);
      for (const [who, r] of [
        ['pa', 'admin'],
        ['pd', 'doctor'],
      ] as const) {
        const address = email(who);
        const res = await createAs(clerk, { email: address, role: r });
        assert.equal(res.statusCode, 403, `${r}: ${res.body}`);
        assert.equal(await usersNamed(address), 0, `no ${r} account was created`);
      }
      const denied = await api.t.db.asAdmin((tx) =>
        tx.query<{ metadata: { permission: string } }>(
          `select metadata from audit.events where event_type = 'access.denied'
            and metadata->>'route' = '/users' order by id desc limit 1`,
        ),
      );
      assert.equal(denied.rows[0]?.metadata.permission, 'role:manage');
      // Nor can anyone choose the new person's password any more.
      const withPassword = await createAs(admin, {
        email: email('pw'),
        role: 'doctor',
        password: 'a password the creator chose',
      });
      assert.equal(withPassword.statusCode, 400, withPassword.body);
    });

    test('an administrator invites a doctor, who activates once and logs in', async () => {
      const doctor = await invite('doctor');
      assert.match(doctor.activationToken, /^wac_[0-9a-f]{64}[A-Za-z0-9_-]{43}$/);
      const hours = (Date.parse(doctor.activationExpiresAt) - Date.now()) / 3_600_000;
      assert.ok(hours > 71.9 && hours <= 72, `valid for ${hours} h`);
      assert.equal((await login(api, doctor.email, goodPassword)).status, 401, 'no password yet');

      const weak = await activate(api, doctor.activationToken, 'passwordpassword');
      assert.equal(weak.status, 400, 'the password policy applies');
      const own = await activate(api, doctor.activationToken, `${doctor.email.split('@')[0]}-2024`);
      assert.equal(own.status, 400, 'a password built from the email is refused');
      const ok = await activate(api, doctor.activationToken);
      assert.equal(ok.status, 200, ok.raw);
      assert.equal(ok.body['email'], doctor.email);
      const stored = await api.t.db.asAdmin((tx) =>
        tx.query<{ h: string }>('select password_hash as h from ward.users where id = $1', [
          doctor.id,
        ]),
      );
      assert.match(stored.rows[0]!.h, /^\$argon2id\$/);
      const session = await login(api, doctor.email, goodPassword);
      assert.equal(session.status, 200);

      const twice = await activate(api, doctor.activationToken, 'another good passphrase here');
      assert.equal(twice.status, 401);
      assert.equal(twice.body['code'], 'activation_failed');
      assert.equal((await login(api, doctor.email, 'another good passphrase here')).status, 401);
    });

    test('an invited administrator activates, then must enroll MFA at the first login', async () => {
      const a = await invite('admin');
      assert.equal((await activate(api, a.activationToken)).status, 200);
      const first = await login(api, a.email);
      assert.equal(first.status, 200);
      assert.equal(first.body['mfaEnrollmentRequired'], true);
    });

    test('an expired or replaced token fails; a new one works', async () => {
      const nurse = await invite('nurse');
      await api.t.db.asAdmin((tx) =>
        tx.query(
          `update ward.user_activations set expires_at = now() - interval '1 second'
            where user_id = $1`,
          [nurse.id],
        ),
      );
      const expired = await activate(api, nurse.activationToken);
      assert.equal(expired.status, 401);
      assert.equal(expired.body['code'], 'activation_failed');

      const reissue = () =>
        api.app.inject({
          method: 'POST',
          url: `/api/v1/users/${nurse.id}/activation`,
          headers: auth(admin),
        });
      const first = await reissue();
      assert.equal(first.statusCode, 201, first.body);
      const second = await reissue();
      const replaced = first.json<{ activationToken: string }>().activationToken;
      const current = second.json<{ activationToken: string }>().activationToken;
      assert.equal((await activate(api, replaced)).status, 401, 'a replaced token is dead');
      assert.equal((await activate(api, current)).status, 200);
      assert.equal((await reissue()).statusCode, 409, 'nobody re-activates an active account');
    });

    test('wrong tokens fail alike and reveal nothing about who exists', async () => {
      const doctor = await invite('doctor');
      const t = doctor.activationToken;
      const wrongSecret = `${t.slice(0, 68)}${'A'.repeat(43)}`;
      const nobody = `wac_${randomUUID().replaceAll('-', '')}${randomUUID().replaceAll('-', '')}${t.slice(68)}`;
      const otherOrg = `wac_${randomUUID().replaceAll('-', '')}${t.slice(36)}`;
      const answers = [];
      for (const token of [wrongSecret, nobody, otherOrg, 'wac_short', t.replace('wac_', 'wst_')])
        answers.push(await activate(api, token, goodPassword, '10.8.0.1'));
      const shape = (a: { status: number; body: Record<string, unknown> }) => ({
        status: a.status,
        code: a.body['code'],
        detail: a.body['detail'],
      });
      for (const a of answers) assert.deepEqual(shape(a), shape(answers[0]!));
      assert.equal(answers[0]!.status, 401);
      assert.equal((await activate(api, t)).status, 200, 'the real token still works');
    });

    test('guessing tokens from one address is throttled like logins', async () => {
      const doctor = await invite('doctor');
      let last = 0;
      for (let i = 0; i < 31; i++) {
        const guess = `${doctor.activationToken.slice(0, 68)}${String(i).padStart(43, 'B')}`;
        last = (await activate(api, guess, goodPassword, '10.8.1.1')).status;
      }
      assert.equal(last, 429);
      assert.equal(
        (await activate(api, doctor.activationToken, goodPassword, '10.8.1.1')).status,
        429,
        'even the right token, from that address',
      );
      assert.equal(
        (await activate(api, doctor.activationToken, goodPassword, '10.8.1.2')).status,
        200,
      );
    });

    test('the token appears in no log line, audit event or stored row', async () => {
      const doctor = await invite('doctor');
      await activate(api, `${doctor.activationToken.slice(0, 68)}${'C'.repeat(43)}`);
      assert.equal((await activate(api, doctor.activationToken)).status, 200);
      const secret = doctor.activationToken.slice(68);
      const logged = lines.join('\n');
      assert.ok(lines.length > 0);
      assert.ok(!logged.includes(secret) && !logged.includes(doctor.activationToken));
      const rows = await api.t.db.asAdmin((tx) =>
        tx.query<{ row: string }>(
          `select row_to_json(e)::text as row from audit.events e
            union all select row_to_json(a)::text from ward.user_activations a`,
        ),
      );
      assert.ok(rows.rows.some((r) => r.row.includes('user.activation.issue')));
      assert.ok(rows.rows.some((r) => r.row.includes('auth.activate')));
      for (const r of rows.rows) assert.ok(!r.row.includes(secret), r.row);
    });

    test('two activations racing with one token: one wins', async () => {
      const doctor = await invite('doctor');
      const answers = await Promise.all(
        ['first racing passphrase', 'second racing passphrase', 'third racing passphrase'].map(
          (p) => activate(api, doctor.activationToken, p, '10.8.2.1'),
        ),
      );
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401, 401]);
    });
  });
}
