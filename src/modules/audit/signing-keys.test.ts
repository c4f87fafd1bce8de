import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../test/helpers/db.ts';
import { asAttacker } from '../../../test/helpers/audit-log.ts';
import { sealUntilCovered } from '../../../test/helpers/audit.ts';
import { testMasterKey } from '../../../test/helpers/crypto.ts';
import { isWardError } from '../../platform/errors.ts';
import { createCrypto } from '../crypto/index.ts';
import { createLocalKek } from '../crypto/kek/local-provider.ts';
import type { KekSet } from '../crypto/kek/provider.ts';
import { createOrganization } from '../tenancy/service.ts';
import { exportLatestCheckpoint } from './checkpoint-export.ts';
import { checkpointHash, checkpointPayload } from './checkpoint-format.ts';
import { listCheckpoints } from './checkpoints-repo.ts';
import { record } from './record.ts';
import { seal } from './sealer.ts';
import { signerFromSeed } from './signer.ts';
import { SigningKeyCustody } from './signing-keys.ts';
import { listSigningKeys } from './signing-keys-repo.ts';
import { verifyAuditLog } from './verify.ts';

const silent = pino({ level: 'silent' });
const otherKek = createHash('sha256').update('another test master key').digest();
const custodyOn = (kek: KekSet): SigningKeyCustody =>
  new SigningKeyCustody(createCrypto(kek, silent).keyring);
const testKek: KekSet = { current: createLocalKek(testMasterKey, 'env'), previous: [] };

for (const engine of availableEngines()) {
  describe(`audit signing key custody (${engine})`, () => {
    let t: TestDatabase;
    let orgId: string;
    const custody = custodyOn(testKek);

    const writeEvents = async (n: number): Promise<void> => {
      await t.db.withContext({ orgId, actorType: 'user' }, async (tx) => {
        for (let i = 0; i < n; i++) await record(tx, { action: 'R', eventType: 'key.test' });
      });
    };
    const vouched = (c: SigningKeyCustody) =>
      t.db.asSystem({ name: 'test.vouch', reason: 'test' }, (tx) => c.vouchedKeys(tx));

    before(async () => {
      t = await createTestDatabase({ engine });
      orgId = (await createOrganization(t.db, { name: 'Key custody', type: 'provider' })).id;
    });
    after(async () => t.close());

    test('the first seal creates the key, stored only wrapped; verify trusts it through the KEK', async () => {
      assert.deepEqual(await t.db.asAdmin((tx) => listSigningKeys(tx)), []);
      await writeEvents(3);
      await sealUntilCovered(t.db, custody, [orgId]);
      const keys = await t.db.asAdmin((tx) => listSigningKeys(tx));
      assert.equal(keys.length, 1);
      const [key] = keys;
      assert.equal(key?.status, 'active');
      assert.equal(key?.kekId, testKek.current.id);
      // What is stored is not the seed: it unwraps only under the KEK, bound to key 1's number.
      assert.ok(key?.wrappedPrivateKey && key.wrappedPrivateKey.length > 32);
      const cps = await t.db.asAdmin((tx) => listCheckpoints(tx, orgId));
      assert.ok(cps.length > 0 && cps.every((c) => c.keyId === key.keyId));
      const v = await vouched(custody);
      assert.deepEqual(
        v.trusted.map((k) => k.keyId),
        [key.keyId],
      );
      const report = await verifyAuditLog(t.db, { orgId, trustedKeys: v.trusted });
      assert.ok(report.ok, JSON.stringify(report));
    });

    test('a wrong KEK: the sealer refuses clearly and writes nothing', async () => {
      const wrong = custodyOn({ current: createLocalKek(otherKek, 'env'), previous: [] });
      await writeEvents(2);
      const before = (await t.db.asAdmin((tx) => listCheckpoints(tx, orgId))).length;
      await assert.rejects(
        seal(t.db, wrong),
        (e) =>
          isWardError(e, 'kek_unavailable') &&
          /audit signing key ed25519:[0-9a-f]+ cannot be unwrapped/.test(e.message) &&
          e.message.includes(testKek.current.id),
      );
      assert.equal((await t.db.asAdmin((tx) => listCheckpoints(tx, orgId))).length, before);
      // Verification under the wrong KEK trusts none of the stored keys and says why.
      const v = await vouched(wrong);
      assert.deepEqual(v.trusted, []);
      assert.deepEqual(
        v.distrusted.map((d) => d.altered),
        [false],
      );
      const report = await verifyAuditLog(t.db, {
        orgId,
        trustedKeys: v.trusted,
        distrustedKeys: v.distrusted,
      });
      assert.equal(report.ok, false);
      assert.deepEqual(report.keyFailures, [], 'a wrong KEK proves no tampering');
      assert.equal(report.chains[0]?.failure?.kind, 'untrusted-key');
      assert.match(report.chains[0]?.failure?.detail ?? '', /not trusted: .*cannot be unwrapped/);
    });

    test('rotation: old checkpoints keep their key and verify, new ones use the new key', async () => {
      await sealUntilCovered(t.db, custody, [orgId]);
      const oldKey = (await custody.activeSigner(t.db)).keyId;
      const oldSeqs = (await t.db.asAdmin((tx) => listCheckpoints(tx, orgId))).map((c) => c.seq);
      const r = await custody.rotate(t.db);
      assert.equal(r.retired, oldKey);
      assert.notEqual(r.active, oldKey);
      await writeEvents(4);
      await sealUntilCovered(t.db, custody, [orgId]);
      const cps = await t.db.asAdmin((tx) => listCheckpoints(tx, orgId));
      for (const c of cps) assert.equal(c.keyId, oldSeqs.includes(c.seq) ? oldKey : r.active);
      assert.ok(cps.some((c) => c.keyId === r.active));
      const keys = await t.db.asAdmin((tx) => listSigningKeys(tx));
      assert.deepEqual(
        keys.map((k) => [k.keyId, k.status]),
        [
          [oldKey, 'retired'],
          [r.active, 'active'],
        ],
      );
      const v = await vouched(custody);
      assert.equal(v.trusted.length, 2);
      assert.ok((await verifyAuditLog(t.db, { orgId, trustedKeys: v.trusted })).ok);
      // With only the new key trusted, the old checkpoints are refused: the key id matters.
      const onlyNew = v.trusted.filter((k) => k.keyId === r.active);
      const partial = await verifyAuditLog(t.db, { orgId, trustedKeys: onlyNew });
      assert.equal(partial.chains[0]?.failure?.kind, 'untrusted-key');
      // A retired key can never become active again.
      await assert.rejects(
        t.db.asAdmin((tx) =>
          tx.query(
            `update audit.signing_keys set status = 'active', retired_at = null
                     where key_id = $1`,
            [oldKey],
          ),
        ),
        /cannot be reactivated|duplicate key|one_active/,
      );
    });

    test('the stored identity of a key cannot be changed or deleted, even by the owner', async () => {
      for (const sql of [
        `update audit.signing_keys set public_key = decode(repeat('00', 32), 'hex')`,
        `delete from audit.signing_keys`,
      ]) {
        await assert.rejects(
          t.db.asAdmin((tx) => tx.query(sql)),
          /cannot change|never deleted/,
        );
      }
    });

    test('KEK rotation re-wraps the signing keys; afterwards the new KEK alone signs and vouches', async () => {
      const rotated: KekSet = {
        current: createLocalKek(otherKek, 'env'),
        previous: [createLocalKek(testMasterKey, 'env')],
      };
      assert.equal(await custodyOn(rotated).rewrap(t.db), 2);
      assert.equal(await custodyOn(rotated).rewrap(t.db), 0, 'a second run has nothing to do');
      const onlyNew = custodyOn({ current: createLocalKek(otherKek, 'env'), previous: [] });
      const keys = await t.db.asAdmin((tx) => listSigningKeys(tx));
      assert.ok(keys.every((k) => k.kekId === rotated.current.id));
      await writeEvents(2);
      await sealUntilCovered(t.db, onlyNew, [orgId]);
      const v = await vouched(onlyNew);
      assert.equal(v.trusted.length, 2);
      assert.ok((await verifyAuditLog(t.db, { orgId, trustedKeys: v.trusted })).ok);
      // The old KEK no longer opens anything.
      await assert.rejects(seal(t.db, custodyOn(testKek)), (e) =>
        isWardError(e, 'kek_unavailable'),
      );
    });

    test('a swapped stored public key is caught: by the KEK check and against an exported checkpoint', async () => {
      const current = custodyOn({ current: createLocalKek(otherKek, 'env'), previous: [] });
      const genuine = await vouched(current);
      const active = await current.activeSigner(t.db);
      const exported = await exportLatestCheckpoint(t.db, orgId, genuine.trusted);
      assert.equal(exported.publicKey, active.publicKey.toString('base64'));
      // An auditor without the KEK: the retired key's public key file plus the exported
      // checkpoint (which carries the active public key) verify the untouched log.
      const retiredFile = genuine.trusted.filter((k) => k.keyId !== active.keyId);
      assert.equal(retiredFile.length, 1);
      const offline = { orgId, trustedKeys: retiredFile, anchor: exported };
      assert.ok((await verifyAuditLog(t.db, offline)).ok);

      // The attacker puts their own public key under the active key's id and re-signs every
      // checkpoint of that key with their private key, fixing up hashes and links.
      const rogue = signerFromSeed(Buffer.alloc(32, 0x5a));
      await asAttacker(t.db, async (tx) => {
        await tx.query('update audit.signing_keys set public_key = $2 where key_id = $1', [
          active.keyId,
          rogue.publicKey,
        ]);
        let prev: Buffer | undefined;
        for (const c of await listCheckpoints(tx, orgId)) {
          const fixed = prev ? { ...c, prevHash: prev } : c;
          const payload = checkpointPayload(fixed);
          const hash = checkpointHash(payload);
          const signature = c.keyId === active.keyId ? rogue.sign(payload) : c.signature;
          await tx.query(
            `update audit.checkpoints set prev_hash = $3, hash = $4, signature = $5
              where organization_id = $1 and seq = $2`,
            [orgId, c.seq, fixed.prevHash, hash, signature],
          );
          prev = hash;
        }
      });
      // Against the exported checkpoint, with no stored key trusted: the signatures fail.
      const anchored = await verifyAuditLog(t.db, offline);
      assert.equal(anchored.ok, false);
      assert.equal(anchored.chains[0]?.failure?.kind, 'bad-signature');
      // Through the KEK: the stored public key no longer belongs to the wrapped private key.
      const v = await vouched(current);
      assert.deepEqual(
        v.distrusted.map((d) => d.keyId),
        [active.keyId],
      );
      assert.match(v.distrusted[0]?.detail ?? '', /does not belong to its private key/);
      const report = await verifyAuditLog(t.db, {
        orgId,
        trustedKeys: v.trusted,
        distrustedKeys: v.distrusted,
      });
      assert.equal(report.ok, false);
      assert.deepEqual(report.keyFailures, v.distrusted);
      // And the sealer refuses to sign with the altered key.
      await assert.rejects(seal(t.db, current), (e) => isWardError(e, 'audit_integrity_failed'));
    });

    test('a wrapped key altered under a KEK we hold is reported as altered, not as unreadable', async () => {
      const current = custodyOn({ current: createLocalKek(otherKek, 'env'), previous: [] });
      // A key the KEK still vouches for (the previous test altered the active one).
      const target = (await vouched(current)).trusted[0];
      assert.ok(target);
      await asAttacker(t.db, async (tx) => {
        await tx.query(
          `update audit.signing_keys
              set wrapped_private_key = set_byte(wrapped_private_key, 20,
                                                 get_byte(wrapped_private_key, 20) # 1)
            where key_id = $1`,
          [target.keyId],
        );
      });
      const v = await vouched(current);
      const mine = v.distrusted.find((d) => d.keyId === target.keyId);
      assert.equal(mine?.altered, true, JSON.stringify(v.distrusted));
      // Under a KEK that is not ours the same row proves nothing either way.
      const stranger = await vouched(
        custodyOn({ current: createLocalKek(Buffer.alloc(32, 9), 'env'), previous: [] }),
      );
      assert.ok(stranger.distrusted.every((d) => !d.altered));
    });
  });
}
