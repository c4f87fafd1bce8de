import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { searchPatients } from '../../src/modules/clinical/patients-service.ts';
import { patientIndexes } from '../../src/modules/clinical/encrypted-columns.ts';
import { computeBlindIndex, nameDobValue } from '../../src/modules/crypto/blind-index.ts';
import { blindIndexStatus } from '../../src/modules/crypto/reindex-status.ts';
import { reindexBlindIndexes, type ReindexDeps } from '../../src/modules/crypto/reindex.ts';
import { qualifiedColumn } from '../../src/modules/crypto/registry.ts';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import type { WardRuntime } from '../../src/runtime/open-ward.ts';
import { createCliTarget, type CliTarget } from '../helpers/cli-target.ts';
import { availableEngines } from '../helpers/db.ts';
import {
  markLegacyOrganization,
  registerPatientAt,
  writeIndexesAt,
  type TestPatient,
} from '../helpers/legacy-index.ts';

// `ward keys reindex` moves an organization's blind indexes from normalization version 1 to
// the current one: rows found before it are found after it (and by every look-alike spelling
// once it completes), only changed indexes are written, its completion is audited in its own
// transaction, a second run changes nothing, and no other organization is touched. The runtime
// is the one the CLI opens (openWard), so the audit wiring is the real one.
const legacyPatients: TestPatient[] = [
  { mrn: 'R-1', lastName: 'O\u2019Brien', dateOfBirth: '1980-02-03', email: 'ob@example.test' },
  {
    mrn: 'R-2',
    lastName: 'Quill\u2010Synthetic',
    dateOfBirth: '1975-06-07',
    email: '\uFF41\uFF56\uFF45\uFF52\uFF59@example.test',
    phone: '555-010-0101',
  },
  {
    mrn: 'R-3',
    lastName: 'Plain',
    dateOfBirth: '1990-01-01',
    email: 'jo\u200Bhn@example.test',
    ssn: '900-12-3456',
  },
  { mrn: 'R-4', lastName: 'Ascii', dateOfBirth: '1991-01-01', phone: '+44 20 7946 0958' },
  { mrn: 'R-5', lastName: 'Dunne', dateOfBirth: '1992-02-02', email: 'dunne@example.test' },
];
// Indexes whose version-2 form differs from version 1: R-1's name, R-2's name and email,
// R-3's email. Everything else keeps its stored hash and must not be written.
const changedValues = 4;

for (const engine of availableEngines()) {
  describe(`ward keys reindex (${engine})`, () => {
    let target: CliTarget;
    let rt: WardRuntime;
    let a: string;
    let b: string;
    const ids = new Map<string, string>();
    const deps = (): ReindexDeps => ({
      db: rt.db,
      keyring: rt.crypto.keyring,
      events: rt.crypto.events,
      codec: rt.crypto.codec,
    });
    const search = (orgId: string, s: Record<string, string>) =>
      rt.db.withContext({ orgId, actorType: 'system', purpose: 'TREAT' }, async (tx) =>
        (await searchPatients(tx, rt.crypto.codec, orgId, s, { fields: [], clinical: false })).value
          .map((p) => p.mrn)
          .sort(),
      );
    const digest = (orgId: string) =>
      rt.db.asAdmin(
        async (tx) =>
          (
            await tx.query<{ d: string }>(
              `select coalesce(string_agg(id::text || encode(mrn_bidx, 'hex') || coalesce(encode(ssn_bidx, 'hex'), '')
                      || coalesce(encode(email_bidx, 'hex'), '') || coalesce(encode(phone_bidx, 'hex'), '')
                      || encode(name_dob_bidx, 'hex') || xmin::text, ',' order by id), '') as d
               from clinical.patients where organization_id = $1`,
              [orgId],
            )
          ).rows[0]?.d,
      );
    const stateRows = (orgId: string) =>
      rt.db.asAdmin(
        async (tx) =>
          (
            await tx.query(
              'select * from ward.blind_index_normalization where organization_id = $1 order by column_name',
              [orgId],
            )
          ).rows,
      );

    before(async () => {
      target = await createCliTarget(engine);
      rt = await target.open();
      for (const label of ['A', 'B']) {
        const org = await createOrganization(rt.db, { name: `Reindex ${label}`, type: 'provider' });
        for (const p of legacyPatients)
          ids.set(`${label}${p.mrn}`, await registerPatientAt(rt.db, rt.crypto, org.id, p, 1));
        await markLegacyOrganization(rt.db, org.id);
        if (label === 'A') a = org.id;
        else b = org.id;
      }
    });
    after(async () => {
      await rt.close();
      await target.close();
    });

    test('before: rows are found as stored; status says what is left', async () => {
      assert.deepEqual(await search(a, { lastName: 'O\u2019Brien', dateOfBirth: '1980-02-03' }), [
        'R-1',
      ]);
      assert.deepEqual(await search(a, { email: '\uFF41\uFF56\uFF45\uFF52\uFF59@example.test' }), [
        'R-2',
      ]);
      assert.deepEqual(await search(a, { email: 'jo\u200Bhn@example.test' }), ['R-3']);
      assert.deepEqual(await search(a, { ssn: '900123456' }), ['R-3']);
      const status = await blindIndexStatus({ db: rt.db }, a);
      const of = (c: string) => status.find((s) => s.column === `clinical.patients.${c}`);
      assert.equal(of('name_dob_bidx')?.state, 'pending');
      assert.equal(of('name_dob_bidx')?.rowsLeft, legacyPatients.length);
      assert.equal(of('email_bidx')?.rowsLeft, legacyPatients.length);
      assert.equal(of('ssn_bidx')?.state, 'pending');
      assert.equal(of('ssn_bidx')?.rowsLeft, 0, 'SSN rules did not change: nothing to read');
    });

    test('reindexing A writes exactly the changed indexes and leaves B alone', async () => {
      const bBefore = await digest(b);
      const aBefore = await digest(a);
      const report = await reindexBlindIndexes(deps(), { orgId: a, batchSize: 2 });
      assert.equal(report.organizations.length, 1);
      const r = report.organizations[0]!;
      assert.equal(r.orgId, a);
      assert.equal(r.scanned, legacyPatients.length);
      assert.equal(r.reindexed, changedValues);
      assert.equal(r.failed, 0);
      assert.deepEqual(
        r.completed,
        ['email_bidx', 'mrn_bidx', 'name_dob_bidx', 'phone_bidx', 'ssn_bidx'].map(
          (c) => `clinical.patients.${c}`,
        ),
      );
      assert.notEqual(await digest(a), aBefore);
      assert.equal(await digest(b), bBefore, "B's rows are untouched");
      assert.deepEqual(await stateRows(b), [], "B's normalization state is untouched");
      // Every index of A is what the current rules compute from the decrypted values.
      for (const p of legacyPatients) {
        const id = ids.get(`A${p.mrn}`)!;
        const row = await rt.db.asAdmin(
          async (tx) =>
            (
              await tx.query<Record<string, Buffer | null>>(
                'select name_dob_bidx, email_bidx, phone_bidx, ssn_bidx from clinical.patients where organization_id = $1 and id = $2',
                [a, id],
              )
            ).rows[0],
        );
        const expect = async (
          index: (typeof patientIndexes)[keyof typeof patientIndexes],
          value: string,
        ) =>
          rt.db.withContext({ orgId: a, actorType: 'system' }, (tx) =>
            rt.crypto.keyring.withIndexKey(tx, a, qualifiedColumn(index), (key) =>
              computeBlindIndex(key, index.kind, value, index.bits),
            ),
          );
        assert.deepEqual(
          row?.['name_dob_bidx'],
          await expect(patientIndexes.nameDob, nameDobValue(p.lastName, p.dateOfBirth)),
          p.mrn,
        );
        if (p.email)
          assert.deepEqual(row?.['email_bidx'], await expect(patientIndexes.email, p.email));
      }
      const status = await blindIndexStatus({ db: rt.db }, a);
      assert.ok(status.every((s) => s.state === 'current' && s.rowsLeft === 0));
      assert.ok((await blindIndexStatus({ db: rt.db }, b)).some((s) => s.state === 'pending'));
    });

    test('after: every look-alike finds the row, the old spelling too', async () => {
      for (const lastName of ["O'Brien", 'O\u2019Brien', 'O\u02BCBRIEN'])
        assert.deepEqual(await search(a, { lastName, dateOfBirth: '1980-02-03' }), ['R-1']);
      assert.deepEqual(
        await search(a, { lastName: 'quill-synthetic', dateOfBirth: '1975-06-07' }),
        ['R-2'],
      );
      assert.deepEqual(await search(a, { email: 'avery@example.test' }), ['R-2']);
      assert.deepEqual(await search(a, { email: 'john@example.test' }), ['R-3']);
      assert.deepEqual(await search(a, { phone: '(555) 010-0101' }), ['R-2']);
      // B, not reindexed, still finds its rows as stored.
      assert.deepEqual(await search(b, { email: 'jo\u200Bhn@example.test' }), ['R-3']);
    });

    test('completion is audited in the transaction that records it', async () => {
      const rows = await rt.db.asAdmin(
        async (tx) =>
          (
            await tx.query<{
              event_type: string;
              tx_id: string;
              metadata: Record<string, unknown>;
            }>(
              `select event_type, tx_id::text, metadata from audit.events
              where organization_id = $1
                and (event_type = 'crypto.reindex_completed'
                     or (event_type = 'system.access' and metadata->>'job' = 'crypto.reindex'))
              order by id`,
              [a],
            )
          ).rows,
      );
      const done = rows.filter((r) => r.event_type === 'crypto.reindex_completed');
      assert.equal(done.length, 1, JSON.stringify(rows));
      assert.deepEqual(done[0]!.metadata, {
        columns: ['email_bidx', 'mrn_bidx', 'name_dob_bidx', 'phone_bidx', 'ssn_bidx'].map(
          (c) => `clinical.patients.${c}`,
        ),
        normalization: 2,
      });
      assert.ok(
        rows.some((r) => r.event_type === 'system.access' && r.tx_id === done[0]!.tx_id),
        'recorded in a reindex transaction',
      );
      const inB = await rt.db.asAdmin((tx) =>
        tx.query(
          `select 1 from audit.events where organization_id = $1 and event_type = 'crypto.reindex_completed'`,
          [b],
        ),
      );
      assert.equal(inB.rows.length, 0);
    });

    test('a second run changes nothing; a repair pass writes nothing', async () => {
      const before = await digest(a);
      const none = await reindexBlindIndexes(deps(), {});
      assert.ok(!none.organizations.some((o) => o.orgId === a), 'A has nothing left to do');
      const repair = await reindexBlindIndexes(deps(), { orgId: a });
      assert.equal(repair.organizations[0]?.reindexed, 0);
      assert.equal(await digest(a), before, 'no row of A written again');
    });

    test('once complete, only the current form is looked up', async () => {
      // An old-form index written after the reindex passed its row (by a server still running
      // the old rules, which the documented upgrade order rules out): A, complete, no longer
      // looks the old form up; B, not reindexed, still does.
      const curly = { lastName: 'O\u2019Brien', dateOfBirth: '1980-02-03' };
      await writeIndexesAt(rt.db, rt.crypto, a, ids.get('AR-1')!, curly, 1);
      assert.deepEqual(await search(a, curly), []);
      assert.deepEqual(await search(b, curly), ['R-1']);
      // A repair pass puts A right again.
      const repair = await reindexBlindIndexes(deps(), { orgId: a });
      assert.equal(repair.organizations[0]?.reindexed, 1);
      assert.deepEqual(await search(a, curly), ['R-1']);
    });

    test('values the current rules refuse keep their old index and are reported', async () => {
      const id = ids.get('AR-4')!;
      // A phone number with a superscript digit: version 1 skipped it, version 2 refuses it.
      const phone = '555-010-0123\u00B2';
      const sealed = await rt.db.withContext({ orgId: a, actorType: 'system' }, (tx) =>
        rt.crypto.codec.encrypt(
          tx,
          { orgId: a, table: 'clinical.patients', column: 'phone_encrypted', rowId: id },
          phone,
        ),
      );
      await rt.db.asAdmin((tx) =>
        tx.query(
          'update clinical.patients set phone_encrypted = $3 where organization_id = $1 and id = $2',
          [a, id, sealed],
        ),
      );
      await writeIndexesAt(
        rt.db,
        rt.crypto,
        a,
        id,
        { lastName: 'Ascii', dateOfBirth: '1991-01-01', phone },
        1,
      );
      const before = await digest(a);
      const r = (await reindexBlindIndexes(deps(), { orgId: a })).organizations[0]!;
      assert.equal(r.unindexable, 1);
      assert.deepEqual(r.unindexableRows, [{ column: 'clinical.patients.phone_bidx', rowId: id }]);
      assert.equal(r.reindexed, 0);
      assert.equal(await digest(a), before, 'its old index is kept');
      assert.deepEqual(await search(a, { phone: '(555) 010-0123' }), ['R-4'], 'found as before');
    });

    test('a value that fails authentication is reported, not reindexed', async () => {
      // R-1's email ciphertext copied into R-5: bound to another row, it cannot be opened.
      await rt.db.asAdmin((tx) =>
        tx.query(
          `update clinical.patients set email_encrypted = (select email_encrypted from clinical.patients where id = $2)
            where organization_id = $1 and id = $3`,
          [a, ids.get('AR-1'), ids.get('AR-5')],
        ),
      );
      const before = await digest(a);
      const r = (await reindexBlindIndexes(deps(), { orgId: a })).organizations[0]!;
      assert.equal(r.failed, 2, 'both indexes of the row that could not be read');
      assert.equal(await digest(a), before);
    });
  });
}
