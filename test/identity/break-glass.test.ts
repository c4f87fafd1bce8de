import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// Hostile break-glass requests: the reason is the emergency's only justification, so it must
// be something a privacy officer can read.
describe('break-glass requests', () => {
  let api: TestApi;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let doctor: string;
  before(async () => {
    api = await createTestApi();
    org = await seedOrg(api, 'BreakGlass', ['doctor']);
    doctor = await tokenFor(api, org.users['doctor']!.email);
  });
  after(async () => api.close());

  const start = (reason: string) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/access/break-glass',
      headers: auth(doctor),
      payload: { reason, minutes: 5 },
    });

  const sessions = async () =>
    (
      await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          'select count(*)::int as n from ward.break_glass_sessions where user_id = $1',
          [org.users['doctor']!.id],
        ),
      )
    ).rows[0]?.n ?? 0;

  test('a reason of invisible or control characters is refused, and opens nothing', async () => {
    const hollow = [
      ' '.repeat(25),
      '\u200b'.repeat(20), // zero-width spaces
      '\u2060'.repeat(20), // word joiners
      '\u3164'.repeat(20), // Hangul fillers
      'Patient in ED \u202ekcehc yllaer\u202c, needs history', // a bidi override
      'Unconscious patient\u001b[2J needs history now', // an ANSI escape
    ];
    for (const reason of hollow) {
      const r = await start(reason);
      assert.equal(r.statusCode, 400, JSON.stringify(reason));
      assert.equal(r.json<{ code: string }>().code, 'validation_failed');
    }
    assert.equal(await sessions(), 0);
    const ok = await start('Unconscious patient in ED,\nallergy history needed now');
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(await sessions(), 1);
  });
});
