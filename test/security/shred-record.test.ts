import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  retireKey,
  rotateDataKeys,
  shredOrganizationKeys,
} from '../../src/modules/crypto/key-admin.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import type { WardRuntime } from '../../src/runtime/open-ward.ts';
import { availableEngines } from '../helpers/db.ts';
import { createCliTarget, type CliTarget } from '../helpers/cli-target.ts';

// `ward keys shred` destroys an organization's keys for good. Its audit record must commit
// with it: a shred that cannot be recorded does not happen, and a shred that happened is
// recorded in its own transaction (not in a later one a crash or a failed write could lose).
// The runtime is the one every CLI command opens (openWard), so the wiring is the real one.
for (const engine of availableEngines()) {
  describe(`crypto-shredding is recorded in its own transaction (${engine})`, () => {
    let target: CliTarget;
    let rt: WardRuntime;
    const deps = () => ({ db: rt.db, keyring: rt.crypto.keyring, events: rt.crypto.events });

    before(async () => {
      target = await createCliTarget(engine);
      rt = await target.open();
    });
    after(async () => {
      await rt.close();
      await target.close();
    });

    async function orgWithKeys(label: string): Promise<string> {
      const org = await createOrganization(rt.db, { name: `Shred ${label}`, type: 'provider' });
      await rotateDataKeys(deps(), org.id);
      return org.id;
    }

    const liveKeys = async (orgId: string) =>
      (
        await rt.db.asAdmin((tx) =>
          tx.query<{ n: number }>(
            `select count(*)::int as n from ward.encryption_keys
              where organization_id = $1 and wrapped_key is not null`,
            [orgId],
          ),
        )
      ).rows[0]?.n ?? 0;

    test('a shred whose record cannot be written destroys nothing', async () => {
      const orgId = await orgWithKeys('refused');
      assert.ok((await liveKeys(orgId)) > 0);
      // The audit trail refuses exactly this record, as a full disk or a lost connection would.
      await rt.db.asAdmin(async (tx) => {
        await tx.query(`create function public.test_refuse_shred_record() returns trigger
          language plpgsql as $$ begin raise exception 'audit write refused'; end $$`);
        await tx.query(`create trigger test_refuse_shred_record before insert on audit.events
          for each row when (new.event_type = 'crypto.keys_shredded')
          execute function public.test_refuse_shred_record()`);
      });
      try {
        await assert.rejects(shredOrganizationKeys(deps(), orgId, 'test: record refused'));
      } finally {
        await rt.db.asAdmin(async (tx) => {
          await tx.query('drop trigger test_refuse_shred_record on audit.events');
          await tx.query('drop function public.test_refuse_shred_record()');
        });
      }
      assert.ok((await liveKeys(orgId)) > 0, 'keys destroyed without a record of it');
    });

    test('the record commits with the shred, in the same transaction, exactly once', async () => {
      const orgId = await orgWithKeys('recorded');
      const reason = 'test: tenant offboarded';
      const versions = await shredOrganizationKeys(deps(), orgId, reason);
      assert.deepEqual(versions, [1]);
      assert.equal(await liveKeys(orgId), 0);
      // Read at once, without waiting for any queued write: the record is already committed.
      const events = async () =>
        (
          await rt.db.asAdmin((tx) =>
            tx.query<{ event_type: string; tx_id: string; metadata: Record<string, unknown> }>(
              `select event_type, tx_id::text, metadata from audit.events
                where organization_id = $1
                  and (event_type = 'crypto.keys_shredded'
                       or (event_type = 'system.access' and metadata->>'job' = 'crypto.shred'))
                order by id`,
              [orgId],
            ),
          )
        ).rows;
      const rows = await events();
      const shredded = rows.filter((r) => r.event_type === 'crypto.keys_shredded');
      const access = rows.filter((r) => r.event_type === 'system.access');
      assert.equal(shredded.length, 1, JSON.stringify(rows));
      assert.equal(access.length, 1, JSON.stringify(rows));
      assert.equal(shredded[0]!.tx_id, access[0]!.tx_id, 'recorded in the shred transaction');
      assert.deepEqual(shredded[0]!.metadata, { versions: [1], reason });
      // Nothing else records it a second time later.
      await rt.close();
      rt = await target.open();
      assert.equal(
        (await events()).filter((r) => r.event_type === 'crypto.keys_shredded').length,
        1,
      );
    });

    test('a rotation and a retirement are recorded in their own transactions, once', async () => {
      const orgId = await orgWithKeys('rotated');
      await rotateDataKeys(deps(), orgId);
      await retireKey(deps(), orgId, 1);
      const rows = (
        await rt.db.asAdmin((tx) =>
          tx.query<{ event_type: string; tx_id: string; metadata: Record<string, unknown> }>(
            `select event_type, tx_id::text, metadata from audit.events
              where organization_id = $1
                and (event_type in ('crypto.key_rotated', 'crypto.key_retired')
                     or (event_type = 'system.access'
                         and metadata->>'job' in ('crypto.rotate', 'crypto.retire')))
              order by id`,
            [orgId],
          ),
        )
      ).rows;
      const txOf = (type: string) => rows.filter((r) => r.event_type === type).map((r) => r.tx_id);
      const jobTx = (job: string) =>
        rows
          .filter((r) => r.event_type === 'system.access' && r.metadata['job'] === job)
          .map((r) => r.tx_id);
      assert.equal(txOf('crypto.key_rotated').length, 2, JSON.stringify(rows));
      assert.deepEqual(
        txOf('crypto.key_rotated'),
        jobTx('crypto.rotate'),
        'each with its rotation',
      );
      assert.equal(txOf('crypto.key_retired').length, 1, JSON.stringify(rows));
      assert.deepEqual(txOf('crypto.key_retired'), jobTx('crypto.retire'));
    });
  });
}
