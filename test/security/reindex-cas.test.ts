import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { searchPatients, updatePatient } from '../../src/modules/clinical/patients-service.ts';
import { FieldCodec } from '../../src/modules/crypto/codec.ts';
import { keyMiss, type Keyring } from '../../src/modules/crypto/keyring.ts';
import { reindexBlindIndexes } from '../../src/modules/crypto/reindex.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import type { Queryable, Tx } from '../../src/platform/db/index.ts';
import { testCrypto } from '../helpers/crypto.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { markLegacyOrganization, registerPatientAt } from '../helpers/legacy-index.ts';

// A reindex batch reads rows, decrypts their sources, computes the current indexes and writes
// the changed ones. A row a request changes in between must never get the index of what the
// batch read (compare-and-swap on the sources and the index), and a row whose ciphertext was
// rewritten without a new index (a rewrap) must be read again and still reindexed, or the
// completed column would hide it. Needs two connections at once, so PostgreSQL only.
const engines = availableEngines().filter((e) => e === 'postgres');
if (engines.length === 0) {
  test('reindex compare-and-swap under a concurrent write', { skip: 'needs PostgreSQL' }, () => {});
}

for (const engine of engines) {
  describe(`reindex keeps what a request wrote during its batch (${engine})`, () => {
    let t: TestDatabase;
    let orgId: string;
    const crypto = testCrypto({ primaryTtlMs: 0 });
    const ids: Record<string, string> = {};
    const vis = { fields: [], clinical: false };
    const as = <T>(fn: (tx: Tx) => Promise<T>) =>
      t.db.withContext({ orgId, actorType: 'system', purpose: 'TREAT' }, fn);
    const search = (lastName: string, dateOfBirth: string) =>
      as(async (tx) =>
        (await searchPatients(tx, crypto.codec, orgId, { lastName, dateOfBirth }, vis)).value
          .map((p) => p.mrn)
          .sort(),
      );

    before(async () => {
      t = await createTestDatabase({ engine });
      orgId = (await createOrganization(t.db, { name: 'Reindex CAS', type: 'provider' })).id;
      for (const [mrn, lastName] of [
        ['C-1', 'O\u2019Brien'],
        ['C-2', 'Quill\u2010Synthetic'],
        ['C-3', 'D\u2019Angelo'],
      ] as const)
        ids[mrn] = await registerPatientAt(
          t.db,
          crypto,
          orgId,
          { mrn, lastName, dateOfBirth: '1980-02-03' },
          1,
        );
      await markLegacyOrganization(t.db, orgId);
    });
    after(async () => t.close());

    test('a request’s change survives; a rewrapped row is read again and reindexed', async () => {
      let wrote = false;
      // While the batch decrypts what it read, in another transaction: a clinician renames
      // C-1 (the service stores the new name's current index), and a rewrap re-encrypts C-2's
      // last name (same text, new ciphertext, old index left in place).
      const writeMeanwhile = async () => {
        if (wrote) return;
        wrote = true;
        await as(async (tx) => {
          await updatePatient(tx, crypto.codec, orgId, ids['C-1']!, 1, { lastName: 'Dunne' }, vis);
        });
        await as(async (tx) => {
          const again = await crypto.codec.encryptRow(
            tx,
            { orgId, table: 'clinical.patients', rowId: ids['C-2']! },
            { last_name_encrypted: 'Quill\u2010Synthetic' },
          );
          await tx.query(
            'update clinical.patients set last_name_encrypted = $3 where organization_id = $1 and id = $2',
            [orgId, ids['C-2'], again.last_name_encrypted],
          );
        });
      };
      const real = crypto.keyring;
      const keyring = {
        cachedVersion: () => keyMiss,
        withVersion: async <T>(q: Queryable, org: string, v: number, fn: (k: Buffer) => T) => {
          await writeMeanwhile();
          return real.withVersion(q, org, v, fn);
        },
      } as unknown as Keyring;
      const report = await reindexBlindIndexes(
        {
          db: t.db,
          keyring: real,
          events: crypto.events,
          codec: new FieldCodec(keyring, crypto.events),
        },
        { orgId, batchSize: 100 },
      );
      assert.ok(wrote, 'the concurrent writes happened during the batch');
      const r = report.organizations[0]!;
      assert.equal(r.failed, 0);
      assert.equal(r.reindexed, 2, "C-2 (after a second read) and C-3; never C-1's new name");
      assert.ok(r.completed.includes('clinical.patients.name_dob_bidx'));
      assert.deepEqual(await search('Dunne', '1980-02-03'), ['C-1'], "the request's index kept");
      assert.deepEqual(await search("O'Brien", '1980-02-03'), [], 'not the name the batch read');
      assert.deepEqual(await search('O\u2019Brien', '1980-02-03'), []);
      assert.deepEqual(await search('Quill-Synthetic', '1980-02-03'), ['C-2']);
      assert.deepEqual(await search("d'angelo", '1980-02-03'), ['C-3']);
    });
  });
}
