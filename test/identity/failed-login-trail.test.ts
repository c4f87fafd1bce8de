import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { purgeStaleThrottle } from '../../src/modules/auth/throttle-repo.ts';
import { availableEngines } from '../helpers/db.ts';
import { createTestApi, login, seedOrg, type TestApi } from '../helpers/api.ts';

// People type their password into the email box. The audit trail is append-only, so whatever
// a failed login records of the typed email stays for good: it must hold nothing a copy of the
// database could turn back into the password (an unkeyed digest of it could be cracked).

for (const engine of availableEngines()) {
  describe(`what a failed login leaves in the audit trail (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await createTestApi(undefined, engine);
    });
    after(async () => api.close());

    test('a password typed as the email leaves no trace of itself in any form', async () => {
      const org = await seedOrg(api, `Trail${engine}`, ['nurse']);
      const typed = 'lantern harbour quietly 1987';
      const r = await login(api, typed, 'whatever else was typed', {}, '10.9.0.1');
      assert.equal(r.status, 401);
      // And a known account's failure names the account, not what was typed.
      const known = await login(api, org.users['nurse']!.email, 'not the password at all');
      assert.equal(known.status, 401);
      const sha = createHash('sha256').update(typed).digest('hex');
      const rows = await api.t.db.asAdmin((tx) =>
        tx.query<{ row: string; metadata: Record<string, unknown> | null; reason: string }>(
          `select row_to_json(e)::text as row, metadata, outcome_reason as reason
             from audit.events e where event_type = 'auth.login' and outcome = '4'`,
        ),
      );
      assert.deepEqual(rows.rows.map((x) => x.reason).sort(), ['bad_password', 'unknown_account']);
      for (const x of rows.rows) {
        assert.ok(!x.row.includes(sha.slice(0, 16)), 'no digest of the typed text');
        assert.ok(!x.row.toLowerCase().includes('lantern'), 'no typed text');
        assert.ok(!('emailHash' in (x.metadata ?? {})));
      }
    });
    test('throttle rows that count nothing any more are purged', async () => {
      const typed = 'orchard seventeen purple 2001';
      const key = (text: string) => createHash('sha256').update(`acct:${text}`).digest();
      await login(api, typed, 'guess', {}, '10.9.1.1');
      await login(api, 'still-counting@example.test', 'guess', {}, '10.9.1.1');
      await api.t.db.asAdmin(async (tx) => {
        await tx.query(
          "update ward.auth_throttle set window_started_at = now() - interval '2 hours' where key_hash = $1",
          [key(typed)],
        );
        await tx.query(
          `insert into ward.auth_throttle (key_hash, failures, window_started_at, blocked_until)
           values ($1, 5, now() - interval '2 hours', now() + interval '10 minutes')`,
          [key('locked@example.test')],
        );
      });
      const purged = await api.t.db.asSystem(
        { name: 'test.throttle-purge', reason: 'exercise the purge job' },
        purgeStaleThrottle,
      );
      assert.ok(purged >= 1);
      const left = await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          'select count(*)::int as n from ward.auth_throttle where key_hash = any($1::bytea[])',
          [[key(typed), key('still-counting@example.test'), key('locked@example.test')]],
        ),
      );
      assert.equal(left.rows[0]?.n, 2, 'the counting and the blocking rows stay');
    });
  });
}
