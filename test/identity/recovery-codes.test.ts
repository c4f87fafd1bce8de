import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { normalizeRecoveryCode } from '../../src/modules/auth/recovery-codes.ts';
import { availableEngines } from '../helpers/db.ts';
import {
  createTestApi,
  enrollTotp,
  login,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// A copy of the database must not be enough to attack recovery codes: stored plain SHA-256,
// one pass over the 2^64 codes would test every user's codes at once. They are stored keyed
// and bound to their user; codes stored the old way keep working and are upgraded.

const sha256 = (code: string) => createHash('sha256').update(normalizeRecoveryCode(code)).digest();

for (const engine of availableEngines()) {
  describe(`recovery codes at rest (${engine})`, () => {
    let api: TestApi;
    before(async () => {
      api = await createTestApi(undefined, engine);
    });
    after(async () => api.close());

    const stored = async (userId: string) =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ code_hash: Buffer; hash_scheme: string; used: boolean }>(
            `select code_hash, hash_scheme, used_at is not null as used
               from ward.recovery_codes where user_id = $1`,
            [userId],
          ),
        )
      ).rows;

    const loginWith = async (email: string, recoveryCode: string) => {
      const first = await login(api, email);
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/verify',
        payload: { mfaToken: first.body['mfaToken'], recoveryCode },
      });
      return r.statusCode;
    };

    test('new codes are stored keyed and bound to their user, never as their plain digest', async () => {
      const org = await seedOrg(api, `Keyed${engine}`, ['doctor', 'nurse']);
      const doctor = org.users['doctor']!;
      const { recoveryCodes } = await enrollTotp(api, await tokenFor(api, doctor.email));
      const rows = await stored(doctor.id);
      assert.equal(rows.length, 10);
      assert.ok(rows.every((r) => r.hash_scheme === 'hmac-v1'));
      const hashes = new Set(rows.map((r) => r.code_hash.toString('hex')));
      for (const code of recoveryCodes)
        assert.ok(!hashes.has(sha256(code).toString('hex')), 'no row is the plain digest');

      // The same code stored for another user gives another hash.
      const nurse = org.users['nurse']!;
      const [mine, theirs] = await api.t.db.withContext(
        { orgId: org.orgId, actorType: 'system' },
        async (tx) => [
          await api.rt.crypto.codec.recoveryCodeHash(tx, org.orgId, doctor.id, sha256('a')),
          await api.rt.crypto.codec.recoveryCodeHash(tx, org.orgId, nurse.id, sha256('a')),
        ],
      );
      assert.ok(!mine.equals(theirs));
      assert.ok(!mine.equals(sha256('a')));
      assert.equal(await loginWith(doctor.email, recoveryCodes[3]!.toUpperCase()), 200);
    });

    test('codes stored as plain SHA-256 before keying still work, and are upgraded on use', async () => {
      const org = await seedOrg(api, `Legacy${engine}`, ['doctor']);
      const doctor = org.users['doctor']!;
      await enrollTotp(api, await tokenFor(api, doctor.email));
      const legacy = ['1111-2222-3333-4444', '5555-6666-7777-8888', '9999-aaaa-bbbb-cccc'];
      await api.t.db.asAdmin(async (tx) => {
        await tx.query('delete from ward.recovery_codes where user_id = $1', [doctor.id]);
        for (const code of legacy)
          await tx.query(
            `insert into ward.recovery_codes (organization_id, user_id, code_hash, hash_scheme)
             values ($1, $2, $3, 'sha256')`,
            [org.orgId, doctor.id, sha256(code)],
          );
      });
      assert.equal(await loginWith(doctor.email, legacy[0]!), 200, 'an old code logs in');
      const after = await stored(doctor.id);
      assert.deepEqual(
        after.map((r) => [r.hash_scheme, r.used]).sort(),
        [
          ['hmac-v1', false],
          ['hmac-v1', false],
          ['sha256', true],
        ],
        'the remaining old codes are now keyed',
      );
      assert.ok(!after.some((r) => !r.used && r.code_hash.equals(sha256(legacy[1]!))));
      assert.equal(await loginWith(doctor.email, legacy[1]!), 200, 'an upgraded code still works');
      assert.equal(await loginWith(doctor.email, legacy[0]!), 401, 'a used code stays used');
    });
  });
}
