import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createGrant, revokeGrant } from '../../src/modules/access/grants-service.ts';
import { grantManager } from '../helpers/principal.ts';
import { pgCode } from '../../src/platform/errors.ts';
import { availableEngines } from '../helpers/db.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';

// Seed 2's cross-organization access end to end: a payer's patient reached by a provider only
// through a live grant, decrypted with the payer's key, accounted for in the payer's own log,
// and closed again by revocation and expiry. Attacked from the grantee's side at the HTTP and
// the database level.
const patient = {
  mrn: 'MRN-GR-0001',
  firstName: 'Rowan',
  lastName: 'Granted-Synthetic',
  dateOfBirth: '1975-06-01',
  ssn: '900-55-0001',
  email: 'rowan.granted@example.test',
  phone: '(555) 010-0155',
  insurance: { payer: 'Example Mutual', memberId: 'EXM-0155' },
};

for (const engine of availableEngines()) {
  describe(`reads through a cross-organization grant (${engine})`, () => {
    let api: TestApi;
    let payer: Awaited<ReturnType<typeof seedOrg>>;
    let provider: Awaited<ReturnType<typeof seedOrg>>;
    let stranger: Awaited<ReturnType<typeof seedOrg>>;
    let payerDoctor: string;
    let providerDoctor: string;
    let strangerDoctor: string;
    let patientId: string;
    let otherPatientId: string;

    const adminOf = (orgId: string) => grantManager(orgId);

    const grant = (
      patientId: string,
      purposes: string[],
      validUntilMs = 3_600_000,
      fields: string[] = ['firstName', 'lastName', 'dateOfBirth', 'ssn', 'insurance'],
    ) =>
      api.t.db.withContext({ orgId: payer.orgId, actorType: 'user' }, (tx) =>
        createGrant(tx, adminOf(payer.orgId), {
          granteeOrganizationId: provider.orgId,
          patientId,
          permissions: ['patient:read'],
          purposes,
          fields,
          validUntil: new Date(Date.now() + validUntilMs).toISOString(),
          justificationType: 'prior_authorization',
          justificationId: randomUUID(),
        }),
      );
    const get = (token: string, purpose: string, id = patientId) =>
      api.app.inject({ url: `/api/v1/patients/${id}`, headers: auth(token, purpose) });
    const events = (orgId: string, eventType: string) =>
      api.t.db.asAdmin(
        async (tx) =>
          (
            await tx.query<{ patient_id: string; phi_fields: string[]; metadata: unknown }>(
              `select patient_id, phi_fields, metadata from audit.events
              where organization_id = $1 and event_type = $2 order by id`,
              [orgId, eventType],
            )
          ).rows,
      );

    before(async () => {
      api = await createTestApi(undefined, engine);
      payer = await seedOrg(api, 'Payer', ['doctor']);
      provider = await seedOrg(api, 'Provider', ['doctor']);
      stranger = await seedOrg(api, 'Stranger', ['doctor']);
      payerDoctor = await tokenFor(api, payer.users['doctor']!.email);
      providerDoctor = await tokenFor(api, provider.users['doctor']!.email);
      strangerDoctor = await tokenFor(api, stranger.users['doctor']!.email);
      const create = async (mrn: string) => {
        const r = await api.app.inject({
          method: 'POST',
          url: '/api/v1/patients',
          headers: auth(payerDoctor, 'TREAT'),
          payload: { ...patient, mrn },
        });
        assert.equal(r.statusCode, 201, r.body);
        return r.json<{ id: string }>().id;
      };
      patientId = await create(patient.mrn);
      otherPatientId = await create('MRN-GR-0002');
    });
    after(async () => api.close());

    test('without a grant the provider gets 404, exactly like a missing patient', async () => {
      const r = await get(providerDoctor, 'TREAT');
      assert.equal(r.statusCode, 404);
      const shape = (b: string) => {
        const { code, status, title } = JSON.parse(b) as Record<string, unknown>;
        return { code, status, title };
      };
      assert.deepEqual(
        shape((await get(providerDoctor, 'TREAT', randomUUID())).body),
        shape(r.body),
      );
    });

    test('with a live grant the provider reads the patient, decrypted with the owner key', async () => {
      await grant(patientId, ['TREAT']);
      const r = await get(providerDoctor, 'TREAT');
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json<Record<string, unknown>>();
      assert.equal(body['lastName'], patient.lastName);
      assert.equal(body['ssn'], patient.ssn);
      assert.deepEqual(body['insurance'], patient.insurance);
      // The grantee's doctor could see every field of its own patients; the grant caps it.
      for (const hidden of ['email', 'phone', 'address', 'emergencyContact', 'allergies'])
        assert.equal(hidden in body, false, hidden);
    });

    test('the read is audited in both chains: the grantee event and the owner disclosure', async () => {
      const mine = await events(provider.orgId, 'patient.read');
      assert.equal(mine.length, 1);
      assert.equal(mine[0]?.patient_id, patientId);
      assert.deepEqual(mine[0]?.metadata, { ownerOrganizationId: payer.orgId });
      const owners = await events(payer.orgId, 'patient.disclosure');
      assert.equal(owners.length, 1);
      assert.equal(owners[0]?.patient_id, patientId);
      assert.deepEqual(owners[0]?.phi_fields, mine[0]?.phi_fields);
      // The recipient as the accounting of disclosures names it: id, and name at the time.
      assert.deepEqual(owners[0]?.metadata, {
        granteeOrganizationId: provider.orgId,
        granteeOrganizationName: 'Org Provider',
      });
    });

    test('the grant opens one patient, for its purposes, to its grantee only', async () => {
      assert.equal((await get(providerDoctor, 'TREAT', otherPatientId)).statusCode, 404);
      assert.equal((await get(providerDoctor, 'HPAYMT')).statusCode, 404);
      assert.equal((await get(strangerDoctor, 'TREAT')).statusCode, 404);
    });

    test('a grant is read-only and never opens search by identifier', async () => {
      const search = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients/search',
        headers: auth(providerDoctor, 'TREAT'),
        payload: { ssn: patient.ssn },
      });
      assert.equal(search.statusCode, 200, search.body);
      assert.deepEqual(search.json<{ items: unknown[] }>().items, []);
      const patch = await api.app.inject({
        method: 'PATCH',
        url: `/api/v1/patients/${patientId}`,
        headers: { ...auth(providerDoctor, 'TREAT'), 'if-match': '"1"' },
        payload: { phone: '555-010-0999' },
      });
      assert.equal(patch.statusCode, 404, patch.body);
    });

    test('the database shows the grantee the owner data keys only under a live grant, never the index root', async () => {
      const visible = (orgId: string, purpose: string) =>
        api.t.db.withContext({ orgId, actorType: 'user', purpose }, async (tx) => ({
          data: (
            await tx.query<{ n: number }>(
              'select count(*)::int as n from ward.encryption_keys where organization_id = $1',
              [payer.orgId],
            )
          ).rows[0]?.n,
          index: (
            await tx.query<{ n: number }>(
              'select count(*)::int as n from ward.blind_index_keys where organization_id = $1',
              [payer.orgId],
            )
          ).rows[0]?.n,
        }));
      assert.deepEqual(await visible(provider.orgId, 'TREAT'), { data: 1, index: 0 });
      assert.deepEqual(await visible(provider.orgId, 'HPAYMT'), { data: 0, index: 0 });
      assert.deepEqual(await visible(stranger.orgId, 'TREAT'), { data: 0, index: 0 });
    });

    test('the owner decides the fields: the grantee sees their intersection with its own view', async () => {
      const narrow = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(payerDoctor, 'TREAT'),
        payload: { ...patient, mrn: 'MRN-GR-0003', allergies: [{ substance: 'latex' }] },
      });
      const narrowId = narrow.json<{ id: string }>().id;
      await grant(narrowId, ['TREAT'], 3_600_000, [
        'lastName',
        'allergies',
        'vitals',
        'conditions',
      ]);
      const r = await get(providerDoctor, 'TREAT', narrowId);
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json<Record<string, unknown>>();
      assert.equal(body['lastName'], patient.lastName);
      assert.deepEqual(body['allergies'], [{ substance: 'latex' }]);
      for (const hidden of ['firstName', 'ssn', 'dateOfBirth', 'insurance'])
        assert.equal(hidden in body, false, hidden);
      const owners = await events(payer.orgId, 'patient.disclosure');
      assert.deepEqual(owners.at(-1)?.phi_fields, [
        'lastName',
        'allergies',
        'vitals',
        'conditions',
      ]);
    });

    test('the database itself withholds what the grant does not disclose', async () => {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(payerDoctor, 'TREAT'),
        payload: { ...patient, mrn: 'MRN-GR-0004' },
      });
      const id = r.json<{ id: string }>().id;
      await grant(id, ['TREAT'], 3_600_000, ['lastName', 'ssn']);
      // Straight SQL as the grantee's request would run it, bypassing the service.
      const asGrantee = (orgId: string, purpose: string) =>
        api.t.db.withContext({ orgId, actorType: 'user', purpose }, async (tx) => ({
          table: (
            await tx.query<{ n: number }>(
              'select count(*)::int as n from clinical.patients where id = $1',
              [id],
            )
          ).rows[0]?.n,
          rows: (await tx.query('select * from clinical.granted_patient($1)', [id])).rows,
        }));
      const seen = await asGrantee(provider.orgId, 'TREAT');
      assert.equal(seen.table, 0, 'the table shows a grantee no row of the owner');
      assert.equal(seen.rows.length, 1);
      const row = seen.rows[0]!;
      assert.deepEqual(row['fields'], ['lastName', 'ssn']);
      assert.ok(row['last_name_encrypted'] && row['ssn_encrypted']);
      for (const withheld of [
        'first_name_encrypted',
        'date_of_birth_encrypted',
        'email_encrypted',
        'phone_encrypted',
        'address_encrypted',
        'emergency_contact_encrypted',
        'insurance_encrypted',
        'allergies',
        'vitals',
        'conditions',
      ])
        assert.equal(row[withheld], null, withheld);
      assert.equal('ssn_bidx' in row || 'name_dob_bidx' in row, false, 'no blind index leaves');
      assert.equal((await asGrantee(provider.orgId, 'HPAYMT')).rows.length, 0, 'other purpose');
      assert.equal((await asGrantee(stranger.orgId, 'TREAT')).rows.length, 0, 'stranger');
      const own = await asGrantee(payer.orgId, 'TREAT');
      assert.equal(own.rows.length, 0, 'the owner reads its own rows from the table');
      assert.equal(own.table, 1);
    });

    test('a date of death and the risk category come only with the grant fields that cover them', async () => {
      const r = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(payerDoctor, 'TREAT'),
        payload: { ...patient, mrn: 'MRN-GR-0005' },
      });
      const id = r.json<{ id: string }>().id;
      const died = await api.app.inject({
        method: 'PATCH',
        url: `/api/v1/patients/${id}`,
        headers: { ...auth(payerDoctor, 'TREAT'), 'if-match': '"1"' },
        payload: { status: 'deceased', dateOfDeath: '2024-02-29', riskCategory: 'high' },
      });
      assert.equal(died.statusCode, 200, died.body);
      await grant(id, ['TREAT'], 3_600_000, ['lastName']);
      const narrow = (await get(providerDoctor, 'TREAT', id)).json<Record<string, unknown>>();
      assert.equal(narrow['lastName'], patient.lastName);
      assert.equal(narrow['mrn'], 'MRN-GR-0005', 'the MRN names the record');
      assert.equal(narrow['status'], 'deceased');
      assert.equal('dateOfDeath' in narrow, false);
      assert.equal('riskCategory' in narrow, false);
      await grant(id, ['TREAT'], 3_600_000, ['dateOfDeath', 'allergies', 'vitals', 'conditions']);
      const wide = (await get(providerDoctor, 'TREAT', id)).json<Record<string, unknown>>();
      assert.equal(wide['dateOfDeath'], '2024-02-29');
      assert.equal(wide['riskCategory'], 'high');
      const owners = await events(payer.orgId, 'patient.disclosure');
      assert.ok(owners.at(-1)?.phi_fields.includes('dateOfDeath'));
      assert.ok(!owners.at(-2)?.phi_fields.includes('dateOfDeath'));
    });

    test('a grant cannot name fields that are not patient fields', async () => {
      await assert.rejects(grant(patientId, ['TREAT'], 3_600_000, ['lastName', 'password']), {
        code: 'validation_failed',
      });
    });

    test('a grantee cannot write other events into the owner chain', async () => {
      const attempt = (orgId: string, eventType: string, patient: string) =>
        api.t.db
          .withContext({ orgId, actorType: 'user', purpose: 'TREAT' }, (tx) =>
            tx.query(
              `insert into audit.events (organization_id, action, event_type, patient_id)
               values ($1, 'R', $2, $3)`,
              [payer.orgId, eventType, patient],
            ),
          )
          .then(
            () => 'written',
            (e: unknown) => pgCode(e),
          );
      // A forged event of another type, a disclosure of a patient not granted, and a stranger.
      assert.equal(await attempt(provider.orgId, 'patient.read', patientId), '42501');
      assert.equal(await attempt(provider.orgId, 'patient.disclosure', otherPatientId), '42501');
      assert.equal(await attempt(stranger.orgId, 'patient.disclosure', patientId), '42501');
      // A disclosure attributed to someone other than the request's own actor is refused.
      const forged = await api.t.db
        .withContext(
          { orgId: provider.orgId, actorType: 'user', purpose: 'TREAT', userId: randomUUID() },
          (tx) =>
            tx.query(
              `insert into audit.events (organization_id, action, event_type, patient_id, actor_id)
               values ($1, 'R', 'patient.disclosure', $2, $3)`,
              [payer.orgId, patientId, randomUUID()],
            ),
        )
        .then(
          () => 'written',
          (e: unknown) => pgCode(e),
        );
      assert.equal(forged, '42501');
      assert.equal(await attempt(provider.orgId, 'patient.disclosure', patientId), 'written');
    });

    test('a disclosure names the request purpose and only fields the grant discloses', async () => {
      // The live grant on patientId discloses firstName, lastName, dateOfBirth, ssn, insurance.
      const disclose = (fields: string[], purposeOfUse: string | null) =>
        api.t.db
          .withContext({ orgId: provider.orgId, actorType: 'user', purpose: 'TREAT' }, (tx) =>
            tx.query(
              `insert into audit.events (organization_id, action, event_type, patient_id, phi_fields,
                                         purpose_of_use)
               values ($1, 'R', 'patient.disclosure', $2, $3::text[], coalesce($4, ward.current_purpose()))`,
              [payer.orgId, patientId, fields, purposeOfUse],
            ),
          )
          .then(
            () => 'written',
            (e: unknown) => pgCode(e),
          );
      assert.equal(await disclose(['lastName', 'ssn'], null), 'written');
      // Another purpose than the request's (a payment disclosure under a treatment grant).
      assert.equal(await disclose(['lastName'], 'HPAYMT'), '42501');
      // Fields the owner never granted (email, phone) are refused, alone or mixed in.
      assert.equal(await disclose(['email'], null), '42501');
      assert.equal(await disclose(['lastName', 'phone'], null), '42501');
    });

    test('revocation and expiry close the patient again on the next request', async () => {
      const g = await api.t.db.asAdmin(
        async (tx) =>
          (
            await tx.query<{ id: string }>(
              'select id from ward.access_grants where organization_id = $1 and patient_id = $2',
              [payer.orgId, patientId],
            )
          ).rows,
      );
      for (const { id } of g) {
        await api.t.db.withContext({ orgId: payer.orgId, actorType: 'user' }, (tx) =>
          revokeGrant(tx, adminOf(payer.orgId), id),
        );
      }
      assert.equal((await get(providerDoctor, 'TREAT')).statusCode, 404);

      await grant(otherPatientId, ['TREAT'], 1_500);
      assert.equal((await get(providerDoctor, 'TREAT', otherPatientId)).statusCode, 200);
      await new Promise((r) => setTimeout(r, 1_700));
      assert.equal((await get(providerDoctor, 'TREAT', otherPatientId)).statusCode, 404);
    });
  });
}
