import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';
import { markLegacyOrganization, writeIndexesAt } from '../helpers/legacy-index.ts';
import { reindexBlindIndexes } from '../../src/modules/crypto/reindex.ts';

// Equal facts must find each other through POST /api/v1/patients/search whatever look-alike,
// invisible or full-width character the clinician or the registering system typed, and rows
// indexed with the old normalization (before migration 0023) must still be found.
for (const engine of availableEngines()) {
  describe(`patient search normalizes look-alikes (${engine})`, () => {
    let api: TestApi;
    let doctor: string;
    let legacyDoctor: string;
    let legacyOrg: string;

    before(async () => {
      api = await createTestApi(() => [], engine);
      const org = await seedOrg(api, 'Norm', ['doctor']);
      doctor = await tokenFor(api, org.users['doctor']!.email);
      const legacy = await seedOrg(api, 'Legacy', ['doctor']);
      legacyOrg = legacy.orgId;
      legacyDoctor = await tokenFor(api, legacy.users['doctor']!.email);
    });
    after(async () => api.close());

    const create = async (token: string, body: Record<string, unknown>): Promise<string> => {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(token, 'TREAT'),
        payload: { firstName: 'Synthetic', dateOfBirth: '1980-02-03', ...body },
      });
      assert.equal(r.statusCode, 201, r.body);
      return r.json<{ id: string }>().id;
    };
    const search = async (token: string, body: Record<string, string>) => {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients/search',
        headers: auth(token, 'TREAT'),
        payload: body,
      });
      return { status: r.statusCode, body: r.json<{ items?: { id: string }[]; code?: string }>() };
    };
    const found = async (token: string, body: Record<string, string>): Promise<string[]> => {
      const r = await search(token, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.items ?? []).map((p) => p.id).sort();
    };

    test('"O’Brien" stored is found as "O\'Brien", and the other way round', async () => {
      const curly = await create(doctor, { mrn: 'N-1', lastName: 'O\u2019Brien' });
      const ascii = await create(doctor, { mrn: 'N-2', lastName: "O'Brien" });
      const both = [curly, ascii].sort();
      for (const lastName of [
        "O'Brien",
        'O\u2019Brien',
        'O\u02BCBRIEN',
        'o\u2018brien',
        'O\u0060Brien',
        'O\u00B4Brien',
        'O\u2032Brien',
        'O\uFF07Brien',
        '\uFF2F\uFF07\uFF22\uFF52\uFF49\uFF45\uFF4E', // full-width
        'O\u200B\u2019Brien\u00AD',
      ])
        assert.deepEqual(
          await found(doctor, { lastName, dateOfBirth: '1980-02-03' }),
          both,
          lastName,
        );
      assert.deepEqual(
        await found(doctor, { lastName: 'OBrien', dateOfBirth: '1980-02-03' }),
        [],
        'an apostrophe is not nothing',
      );
    });

    test('hyphens and dashes in a last name', async () => {
      const id = await create(doctor, { mrn: 'N-3', lastName: 'Quill\u2010Synthetic' });
      for (const lastName of ['Quill-Synthetic', 'QUILL\u2013SYNTHETIC', 'quill\u2212synthetic'])
        assert.deepEqual(
          await found(doctor, { lastName, dateOfBirth: '1980-02-03' }),
          [id],
          lastName,
        );
    });

    test('an email with full-width characters is the ASCII address', async () => {
      const wide = await create(doctor, {
        mrn: 'N-4',
        lastName: 'Wide',
        email: '\uFF21\uFF36\uFF25\uFF32\uFF39\uFF0Equill\uFF20example.test',
      });
      const zw = await create(doctor, {
        mrn: 'N-5',
        lastName: 'Joiner',
        email: 'sam\u200B.o\u2019neil@example.test',
      });
      assert.deepEqual(await found(doctor, { email: 'avery.quill@example.test' }), [wide]);
      assert.deepEqual(await found(doctor, { email: ' Avery.Quill@EXAMPLE.test' }), [wide]);
      assert.deepEqual(await found(doctor, { email: "sam.o'neil@example.test" }), [zw]);
      assert.deepEqual(
        await found(doctor, { email: '\uFF53\uFF41\uFF4D.o\u2019neil\uFE6Bexample.test' }),
        [zw],
      );
    });

    test('phone numbers and SSNs in full-width or other-script digits and Unicode dashes', async () => {
      const id = await create(doctor, {
        mrn: 'N-6',
        lastName: 'Digits',
        phone: '\uFF08\uFF15\uFF15\uFF15\uFF09\uFF10\uFF11\uFF10\uFF0D\uFF10\uFF11\uFF14\uFF12',
        ssn: '900\u201012\u20103456',
      });
      assert.deepEqual(await found(doctor, { phone: '555-010-0142' }), [id]);
      assert.deepEqual(await found(doctor, { phone: '+1 555 010 0142' }), [id]);
      assert.deepEqual(await found(doctor, { phone: '٥٥٥\u2212٠١٠\u2212٠١٤٢' }), [id]);
      assert.deepEqual(await found(doctor, { ssn: '900-12-3456' }), [id]);
      assert.deepEqual(await found(doctor, { ssn: '\uFF19\uFF10\uFF10 12 3456' }), [id]);
      // Numerals that are not digits are refused, never guessed.
      const refused = await search(doctor, { phone: '555-010-014\u00B2' });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'invalid_phi_value');
    });

    test('rows indexed with the old rules are still found before any reindex', async () => {
      const ids = {
        lastName: 'O\u2019Brien',
        dateOfBirth: '1980-02-03',
        email: '\uFF41lice@example.test',
        phone: '555-010-0177',
      };
      const id = await create(legacyDoctor, { mrn: 'L-1', ...ids });
      // The organization predates migration 0023: its indexes were computed with version 1.
      await markLegacyOrganization(api.t.db, legacyOrg);
      await writeIndexesAt(api.t.db, api.rt.crypto, legacyOrg, id, ids, 1);
      // Searched as stored: the current form differs from what version 1 stored, so only the
      // old form, looked up too until the organization is reindexed, finds it.
      assert.deepEqual(
        await found(legacyDoctor, { lastName: 'O\u2019Brien', dateOfBirth: '1980-02-03' }),
        [id],
      );
      assert.deepEqual(await found(legacyDoctor, { email: '\uFF41lice@example.test' }), [id]);
      assert.deepEqual(await found(legacyDoctor, { phone: '(555) 010-0177' }), [id]);
      // Version 1 never found it by another spelling; that takes the reindex (next test).
      assert.deepEqual(
        await found(legacyDoctor, { lastName: "O'Brien", dateOfBirth: '1980-02-03' }),
        [],
      );
      // A patient registered now, under the current rules, is found by every spelling.
      const fresh = await create(legacyDoctor, {
        mrn: 'L-2',
        lastName: "D'Angelo",
        email: 'dee@example.test',
      });
      assert.deepEqual(
        await found(legacyDoctor, { lastName: 'D\u2019Angelo', dateOfBirth: '1980-02-03' }),
        [fresh],
      );
    });

    test('after `ward keys reindex`, old rows are found by every spelling', async () => {
      const report = await reindexBlindIndexes(
        {
          db: api.t.db,
          keyring: api.rt.crypto.keyring,
          events: api.rt.crypto.events,
          codec: api.rt.crypto.codec,
        },
        { orgId: legacyOrg },
      );
      assert.equal(report.organizations[0]?.reindexed, 2, 'the name and the email of L-1');
      const [legacy] = await found(legacyDoctor, {
        lastName: 'O\u2019Brien',
        dateOfBirth: '1980-02-03',
      });
      assert.ok(legacy);
      for (const lastName of ["O'Brien", 'O\u2019Brien', 'O\u02BCBrien'])
        assert.deepEqual(
          await found(legacyDoctor, { lastName, dateOfBirth: '1980-02-03' }),
          [legacy],
          lastName,
        );
      assert.deepEqual(await found(legacyDoctor, { email: 'alice@example.test' }), [legacy]);
      assert.deepEqual(await found(legacyDoctor, { phone: '555-010-0177' }), [legacy]);
    });
  });
}
