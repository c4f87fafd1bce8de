import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecurityEvent } from '../../src/modules/crypto/index.ts';
import { keyStatus, rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { isWardError } from '../../src/platform/errors.ts';
import { availableEngines } from '../helpers/db.ts';
import { keyAdminFixture } from '../helpers/key-admin.ts';
import { insertPatient, syntheticPatient } from '../helpers/phi-table.ts';

const table = 'test_phi.patients';

// A stored value's key version (bytes 1..4) is read before the value is authenticated. Key
// versions are PostgreSQL integers (1 to 2^31 - 1); a value whose header claims more (a flipped
// high bit), or that is too short to have a header, is tampered or corrupt. It must fail like
// any other tampered value (`decrypt_failed` and a security event), and must not take down
// `keys status`, `retire` or `rewrap` for every organization.
for (const engine of availableEngines()) {
  describe(`a value claiming an impossible key version (${engine})`, () => {
    const k = keyAdminFixture(engine);
    const { crypto, registry, deps } = k;
    const events: SecurityEvent[] = [];
    const as = k.as;
    const ids: string[] = [];

    before(async () => {
      await k.open('HDR');
      for (let i = 0; i < 2; i++)
        ids.push(await as((tx) => insertPatient(tx, crypto.codec, k.orgId, syntheticPatient(i))));
      crypto.onSecurityEvent((e) => {
        events.push(e);
      });
      // Row 0: the version's high bit flipped. Row 1: a value cut short inside the header.
      await k.db.asAdmin((tx) =>
        tx.query(
          `update ${table} set ssn_encrypted = set_byte(ssn_encrypted, 1, 255) where id = $1`,
          [ids[0]],
        ),
      );
      await k.db.asAdmin((tx) =>
        tx.query(`update ${table} set email_encrypted = '\\x0100'::bytea where id = $1`, [ids[1]]),
      );
    });
    after(() => k.close());

    test('reading it is decrypt_failed and reported', async () => {
      const stored = await as(async (tx) => {
        const r = await tx.query<{ ssn_encrypted: Buffer }>(
          `select ssn_encrypted from ${table} where id = $1`,
          [ids[0]],
        );
        return r.rows[0]!.ssn_encrypted;
      });
      assert.ok(stored.readUInt32BE(1) > 2 ** 31);
      events.length = 0;
      await assert.rejects(
        as((tx) =>
          crypto.codec.decrypt(
            tx,
            { orgId: k.orgId, table, column: 'ssn_encrypted', rowId: ids[0]! },
            stored,
          ),
        ),
        (e) => isWardError(e, 'decrypt_failed'),
      );
      assert.deepEqual(
        events.map((e) => e.type),
        ['crypto.decrypt_failed'],
      );
    });

    test('keys status still answers, and rewrap reports the values instead of failing', async () => {
      // 18 patient values, two of them broken, plus the fixture's agent context.
      const status = await keyStatus(deps());
      assert.equal(status.find((k) => k.orgId === k.orgId && k.version === 1)?.values, 17);
      await rotateDataKeys(deps(), k.orgId);
      const report = await rewrapValues(deps(), { orgId: k.orgId, registry, settleMs: 0 });
      assert.deepEqual(
        report.organizations.map((o) => [o.rewrapped, o.failed]),
        [[17, 2]],
      );
    });
  });
}
