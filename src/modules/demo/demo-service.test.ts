import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { fixtureCrypto } from '../../../test/helpers/crypto.ts';
import { createOrganization, createUser } from '../tenancy/service.ts';
import { ensureDemo, providerDomain } from './demo-service.ts';

// The demo seeds logins by email; an account of another organization that already uses one
// of those addresses must be refused, never taken over (no password reset, no sessions lost).
describe('ward demo never takes over another organization’s account', () => {
  let t: TestDatabase;
  let dataDir: string;
  before(async () => {
    t = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-demo-takeover-'));
  });
  after(async () => {
    await t.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a demo address held by another organization stops the demo, untouched', async () => {
    const other = await createOrganization(t.db, { name: 'Real Clinic', type: 'provider' });
    const user = await createUser(t.db, {
      orgId: other.id,
      email: `doctor@${providerDomain}`,
      role: 'doctor',
      password: 'a long and entirely real passphrase',
    });
    const hashOf = () =>
      t.db.asAdmin(
        async (tx) =>
          (
            await tx.query<{ h: string }>(
              'select password_hash as h from ward.users where id = $1',
              [user.id],
            )
          ).rows[0]?.h,
      );
    const before = await hashOf();
    await assert.rejects(ensureDemo(t.db, fixtureCrypto.codec, { dataDir, patients: 1 }), {
      code: 'conflict',
    });
    assert.equal(await hashOf(), before);
  });
});
