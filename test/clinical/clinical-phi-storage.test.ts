import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createGrant } from '../../src/modules/access/grants-service.ts';
import { grantManager } from '../helpers/principal.ts';
import { columnRegistry } from '../../src/modules/crypto/known-columns.ts';
import { ident, qualified } from '../../src/platform/db/index.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// Storage-level guarantees of the clinical tables: after realistic inserts through the API,
// every registered clinical PHI column holds only ciphertext, and a provider organization
// reaches a payer's patient only through a live grant for the transaction's purpose.
const people = [0, 1, 2].map((i) => ({
  mrn: `MRN-S${String(i)}`,
  firstName: `Robin${String(i)}`,
  lastName: `Storage${String(i)}`,
  dateOfBirth: `199${String(i)}-05-17`,
  ssn: `900-55-000${String(i)}`,
  email: `robin${String(i)}@example.test`,
  phone: `555-010-014${String(i)}`,
  address: { line1: `${String(i)} Cipher Lane`, city: 'Plainville' },
  emergencyContact: { name: `Kit Storage${String(i)}`, phone: '555-010-0100' },
  insurance: { payer: 'Example Mutual', memberId: `EXM-77${String(i)}` },
}));

describe('clinical PHI storage and cross-organization access', () => {
  let api: TestApi;
  let payer: Awaited<ReturnType<typeof seedOrg>>;
  const ids: string[] = [];

  before(async () => {
    api = await createTestApi();
    payer = await seedOrg(api, 'Payer', ['doctor']);
    const doctor = await tokenFor(api, payer.users['doctor']!.email);
    for (const p of people) {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(doctor, 'TREAT'),
        payload: p,
      });
      assert.equal(r.statusCode, 201, r.body);
      ids.push(r.json<{ id: string }>().id);
    }
  });
  after(async () => api.close());

  test('every clinical PHI column holds only ciphertext', async () => {
    const plaintexts = people.flatMap((p) => [
      p.firstName,
      p.lastName,
      p.dateOfBirth,
      p.ssn,
      p.ssn.replace(/-/g, ''),
      p.email,
      p.phone,
      p.address.line1,
      p.emergencyContact.name,
      p.insurance.memberId,
    ]);
    const columns = columnRegistry.encryptedColumns().filter((c) => c.schema === 'clinical');
    assert.ok(columns.length >= 10);
    for (const c of columns.filter((x) => x.table === 'patients')) {
      const r = await api.t.db.asAdmin((tx) =>
        tx.query<{ v: Buffer | null }>(
          `select ${ident(c.column)} as v from ${qualified(c.schema, c.table)}`,
        ),
      );
      assert.equal(r.rows.length, people.length);
      for (const { v } of r.rows) {
        assert.ok(Buffer.isBuffer(v), `${c.table}.${c.column} is not bytea ciphertext`);
        assert.equal(v[0], 0x01, `${c.table}.${c.column}: not format 1`);
        const text = v.toString('latin1');
        for (const p of plaintexts) assert.ok(!text.includes(p), `${c.column} holds plaintext`);
      }
    }
    // Blind indexes are short keyed hashes, never the value.
    const idx = await api.t.db.asAdmin((tx) =>
      tx.query<{ s: Buffer; e: Buffer }>(
        'select ssn_bidx as s, email_bidx as e from clinical.patients',
      ),
    );
    for (const r of idx.rows) assert.ok(r.s.length === 5 && r.e.length === 5);
  });

  test('a provider sees a payer patient only with a live grant and the granted purpose', async () => {
    const provider = await seedOrg(api, 'Provider', ['doctor']);
    // Through clinical.granted_patient: the table itself shows a grantee none of the owner's
    // rows (migration 0014).
    const seen = (purpose: string) =>
      api.t.db.withContext({ orgId: provider.orgId, actorType: 'user', purpose }, async (tx) => {
        const table = await tx.query('select id from clinical.patients');
        assert.equal(table.rowCount, 0);
        return (
          await tx.query<{ id: string }>(
            `select g.id from unnest($1::uuid[]) as x(pid)
               cross join lateral clinical.granted_patient(x.pid) g order by g.mrn`,
            [ids],
          )
        ).rows.map((r) => r.id);
      });
    assert.deepEqual(await seen('TREAT'), []);
    const owner = grantManager(payer.orgId, payer.users['doctor']!.id);
    await api.t.db.withContext({ orgId: payer.orgId, actorType: 'user' }, (tx) =>
      createGrant(tx, owner, {
        granteeOrganizationId: provider.orgId,
        patientId: ids[1]!,
        permissions: ['patient:read'],
        purposes: ['TREAT'],
        validUntil: new Date(Date.now() + 3_600_000).toISOString(),
        justificationType: 'prior_authorization',
        justificationId: randomUUID(),
      }),
    );
    assert.deepEqual(await seen('TREAT'), [ids[1]], 'exactly the granted patient');
    assert.deepEqual(await seen('HPAYMT'), [], 'only for the granted purpose');
    // The grant opens the patient row, not the cases (case:read was not granted).
    const cases = await api.t.db.withContext(
      { orgId: provider.orgId, actorType: 'user', purpose: 'TREAT' },
      async (tx) => (await tx.query('select id from clinical.medical_cases')).rowCount,
    );
    assert.equal(cases, 0);
    // Writes stay tenant-only: the grantee cannot change the granted row.
    const updated = await api.t.db.withContext(
      { orgId: provider.orgId, actorType: 'user', purpose: 'TREAT' },
      async (tx) =>
        (await tx.query("update clinical.patients set vitals = '{}' where id = $1", [ids[1]]))
          .rowCount,
    );
    assert.equal(updated, 0);
  });
});
