import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { availableEngines } from '../helpers/db.ts';
import {
  countEvents,
  createTestApi,
  enrollTotp,
  goodPassword,
  login,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// The second factor is what stands between a leaked password and the account. A reviewer who
// knew a password guessed codes without limit: each password-only login gave a fresh challenge
// and wiped the account's failure count, wrong codes at /auth/mfa/verify never reached the
// lockout, and parallel guesses on one challenge got past its five attempts. These tests attack
// each of those doors on every engine.

/**
 * Enrollment confirms with the previous step's code (so that the current one stays unused for
 * the test): under load the request must not cross into a step where that code is too old.
 */
async function awayFromStepEdge(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 8_000) await sleep(left + 100);
}

for (const engine of availableEngines()) {
  describe(`guessing the second factor (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await createTestApi(undefined, engine);
    });
    after(async () => api.close());

    let users = 0;
    /**
     * A doctor with an enrolled authenticator; returns email, id, org, the TOTP key, and an
     * address of its own (so that tests do not add up on one address's throttle).
     */
    const enrolledUser = async (label: string) => {
      users++;
      await awayFromStepEdge();
      const org = await seedOrg(api, label, ['doctor']);
      const { email, id } = org.users['doctor']!;
      const { secret, recoveryCodes } = await enrollTotp(
        api,
        await tokenFor(api, email),
        Date.now() - 30_000,
      );
      const ip = `10.7.${users}.1`;
      return { email, id, ip, orgId: org.orgId, key: base32Decode(secret), recoveryCodes };
    };

    /** A six-digit code that is not valid in any step the server accepts now. */
    const wrongCode = (key: Buffer, i: number) => {
      const valid = new Set([-30_000, 0, 30_000].map((o) => totpCode(key, Date.now() + o)));
      let n = 100_000 + i * 7;
      while (valid.has(String(n))) n++;
      return String(n);
    };

    const verify = (payload: Record<string, unknown>, ip: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/verify',
        payload,
        remoteAddress: ip,
      });

    const mfaToken = async (email: string, ip: string) => {
      const r = await login(api, email, goodPassword, {}, ip);
      return r.body['mfaRequired'] === true ? String(r.body['mfaToken']) : undefined;
    };

    const eventsOf = async (userId: string, reason: string) =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            `select count(*)::int as n from audit.events
              where event_type = 'auth.login' and actor_id = $1 and outcome_reason = $2`,
            [userId, reason],
          ),
        )
      ).rows[0]?.n ?? 0;

    const lockAlerts = async (userId: string) =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            `select count(*)::int as n from ward.security_alerts
              where subject_user_id = $1 and kind = 'auth.account_locked'`,
            [userId],
          ),
        )
      ).rows[0]?.n ?? 0;

    /** Ends a lockout as if its time had passed (the database clock decides when it ends). */
    const lockoutEnds = (email: string) =>
      api.t.db.asAdmin((tx) =>
        tx.query(
          `update ward.auth_throttle set blocked_until = now() - interval '1 second'
            where key_hash = sha256(convert_to('acct:' || $1, 'UTF8'))`,
          [email],
        ),
      );

    test("the reviewer's loop (login, five wrong codes, repeat) hits the account lockout", async () => {
      const u = await enrolledUser(`Loop${engine}`);
      let checked = 0;
      let refusedLogins = 0;
      for (let round = 0; round < 10; round++) {
        const token = await mfaToken(u.email, u.ip);
        if (!token) {
          refusedLogins++;
          continue;
        }
        for (let i = 0; i < 5; i++) {
          const r = await verify({ mfaToken: token, code: wrongCode(u.key, round * 5 + i) }, u.ip);
          assert.equal(r.statusCode, 401, r.body);
          checked++;
        }
      }
      assert.equal(await eventsOf(u.id, 'bad_second_factor'), 5, 'only the threshold is checked');
      assert.equal(refusedLogins, 9, 'the password is refused once the account is locked');
      assert.equal(checked, 5);
      assert.equal(await lockAlerts(u.id), 1, 'the lockout raised an alert');
    });

    test('during a lockout the right code is refused like a wrong one; after it, it works', async () => {
      const u = await enrolledUser(`Right${engine}`);
      const first = await mfaToken(u.email, u.ip);
      assert.ok(first);
      for (let i = 0; i < 3; i++)
        assert.equal(
          (await verify({ mfaToken: first, code: wrongCode(u.key, i) }, u.ip)).statusCode,
          401,
        );
      // A password-only login in between no longer wipes the count.
      const second = await mfaToken(u.email, u.ip);
      assert.ok(second);
      for (let i = 3; i < 5; i++)
        assert.equal(
          (await verify({ mfaToken: second, code: wrongCode(u.key, i) }, u.ip)).statusCode,
          401,
        );
      const wrong = await verify({ mfaToken: second, code: wrongCode(u.key, 9) }, u.ip);
      const right = await verify({ mfaToken: second, code: totpCode(u.key) }, u.ip);
      assert.equal(right.statusCode, 401, 'the right code is refused while the account is locked');
      const shape = (b: string) => ({ ...JSON.parse(b), instance: '' }) as unknown;
      assert.deepEqual(shape(right.body), shape(wrong.body), 'no oracle: same answer either way');
      assert.equal(await eventsOf(u.id, 'bad_second_factor'), 5);
      assert.ok((await eventsOf(u.id, 'account_locked')) >= 2);
      assert.equal(await lockAlerts(u.id), 1);

      await lockoutEnds(u.email);
      const after = await mfaToken(u.email, u.ip);
      assert.ok(after, 'the password works again once the lockout is over');
      const ok = await verify({ mfaToken: after, code: totpCode(u.key) }, u.ip);
      assert.equal(ok.statusCode, 200, ok.body);
    });

    test('the one-step login counts wrong codes across password-only logins', async () => {
      const u = await enrolledUser(`OneStep${engine}`);
      for (let i = 0; i < 5; i++) {
        const r = await login(api, u.email, goodPassword, { totpCode: wrongCode(u.key, i) }, u.ip);
        assert.equal(r.status, 401);
        // The password alone (which yields only a challenge) must not wipe the count.
        if (i < 4) assert.ok(await mfaToken(u.email, u.ip));
      }
      const right = await login(api, u.email, goodPassword, { totpCode: totpCode(u.key) }, u.ip);
      assert.equal(right.status, 401, 'locked after five wrong codes, even for the right one');
      assert.equal(await countEvents(api, 'auth.login', 'bad_totp_code'), 5);
      assert.equal(await lockAlerts(u.id), 1);
    });

    test('wrong recovery codes count the same way', async () => {
      const u = await enrolledUser(`Recovery${engine}`);
      const token = await mfaToken(u.email, u.ip);
      assert.ok(token);
      for (let i = 0; i < 4; i++)
        assert.equal(
          (await verify({ mfaToken: token, recoveryCode: `dead-beef-0000-000${i}` }, u.ip))
            .statusCode,
          401,
        );
      const next = await mfaToken(u.email, u.ip);
      assert.ok(next);
      assert.equal(
        (await verify({ mfaToken: next, recoveryCode: 'dead-beef-0000-0009' }, u.ip)).statusCode,
        401,
      );
      const real = await verify({ mfaToken: next, recoveryCode: u.recoveryCodes[0] }, u.ip);
      assert.equal(real.statusCode, 401, 'a real recovery code is refused during the lockout');
      assert.equal(await eventsOf(u.id, 'bad_second_factor'), 5);
      assert.equal(await lockAlerts(u.id), 1);
    });

    test('a burst of parallel guesses on one challenge checks at most five codes', async () => {
      const u = await enrolledUser(`Burst${engine}`);
      // A high account threshold, so that only the challenge's own limit is under test.
      await api.t.db.asAdmin((tx) =>
        tx.query(
          `update ward.organizations set settings = settings || '{"lockoutThreshold": 50}'::jsonb where id = $1`,
          [u.orgId],
        ),
      );
      const token = await mfaToken(u.email, u.ip);
      assert.ok(token);
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          verify({ mfaToken: token, code: wrongCode(u.key, i) }, u.ip),
        ),
      );
      assert.deepEqual(
        answers.map((r) => r.statusCode),
        Array.from({ length: 12 }, () => 401),
      );
      assert.equal(await eventsOf(u.id, 'bad_second_factor'), 5, 'codes checked');
      assert.equal(await eventsOf(u.id, 'challenge_expired'), 7, 'refused without a check');
      const attempts = await api.t.db.asAdmin((tx) =>
        tx.query<{ attempts: number }>(
          'select attempts from ward.login_challenges where user_id = $1',
          [u.id],
        ),
      );
      assert.deepEqual(
        attempts.rows.map((r) => r.attempts),
        [5],
      );
    });

    test('a blocked address is refused at the second step, even with the right code', async () => {
      const u = await enrolledUser(`Blocked${engine}`);
      const token = await mfaToken(u.email, u.ip);
      assert.ok(token);
      const sprayer = '10.7.200.1';
      for (let i = 0; i < 30; i++)
        await login(api, `spray-${engine}-${i}@example.test`, 'password guess', {}, sprayer);
      const r = await verify({ mfaToken: token, code: totpCode(u.key) }, sprayer);
      assert.equal(r.statusCode, 429, r.body);
      assert.equal(r.json<{ code: string }>().code, 'rate_limited');
      const ok = await verify({ mfaToken: token, code: totpCode(u.key) }, u.ip);
      assert.equal(ok.statusCode, 200, 'the refusal took no attempt and used no code');
    });

    test('a person who mistypes once still logs in, and the slip is forgiven', async () => {
      const u = await enrolledUser(`Slip${engine}`);
      const token = await mfaToken(u.email, u.ip);
      assert.ok(token);
      assert.equal(
        (await verify({ mfaToken: token, code: wrongCode(u.key, 0) }, u.ip)).statusCode,
        401,
      );
      const ok = await verify({ mfaToken: token, code: totpCode(u.key) }, u.ip);
      assert.equal(ok.statusCode, 200, ok.body);
      const row = await api.t.db.asAdmin((tx) =>
        tx.query<{ failed_login_attempts: number; n: number }>(
          `select u.failed_login_attempts,
                  (select count(*)::int from ward.auth_throttle
                    where key_hash = sha256(convert_to('acct:' || u.email, 'UTF8'))) as n
             from ward.users u where u.id = $1`,
          [u.id],
        ),
      );
      assert.deepEqual(row.rows[0], { failed_login_attempts: 0, n: 0 });
    });
  });
}
