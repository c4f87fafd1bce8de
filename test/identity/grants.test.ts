import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createOrganization } from '../../src/modules/tenancy/service.ts';
import { isWardError, pgCode } from '../../src/platform/errors.ts';
import { createGrant, revokeGrant } from '../../src/modules/access/grants-service.ts';
import { grantManager } from '../helpers/principal.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// The cross-organization mechanism (seed 2): a provider reaches a payer's patient only through
// a grant. Patient tables arrive with the clinical domain; this test builds a patient-scoped
// table with exactly the policy they will use and attacks it from both sides.
for (const engine of availableEngines()) {
  describe(`cross-organization grants (${engine})`, () => {
    let t: TestDatabase;
    let payer: string;
    let provider: string;
    let stranger: string;
    const patient = randomUUID();
    const other = randomUUID();
    before(async () => {
      t = await createTestDatabase({ engine });
      payer = (await createOrganization(t.db, { name: 'Payer', type: 'insurer' })).id;
      provider = (await createOrganization(t.db, { name: 'Provider', type: 'provider' })).id;
      stranger = (await createOrganization(t.db, { name: 'Stranger', type: 'provider' })).id;
      await t.db.asAdmin((tx) =>
        tx.exec(`
          set local role ward_owner;
          create table ward.grant_probe (organization_id uuid not null, id uuid not null, note text,
            primary key (organization_id, id));
          alter table ward.grant_probe enable row level security;
          alter table ward.grant_probe force row level security;
          create policy own on ward.grant_probe using (organization_id = (select ward.current_org_id()));
          create policy granted on ward.grant_probe for select
            using (ward.grant_allows(organization_id, id, 'patient:read'));
          grant select on ward.grant_probe to ward_app;
          reset role;
          insert into ward.grant_probe values ('${payer}', '${patient}', 'granted patient'), ('${payer}', '${other}', 'other patient');
          -- Grants name a patient of the granting organization (a foreign key); the bytes stand
          -- in for ciphertexts this test never decrypts.
          insert into clinical.patients (organization_id, id, mrn, mrn_bidx, first_name_encrypted,
                                         last_name_encrypted, date_of_birth_encrypted, name_dob_bidx)
          select '${payer}', x, 'MRN-' || left(x::text, 8), '\\x00', '\\x00', '\\x00', '\\x00', '\\x00'
            from unnest(array['${patient}', '${other}']::uuid[]) x;`),
      );
    });
    after(async () => t.close());

    const principal = (orgId: string) => grantManager(orgId);
    const seen = (orgId: string, purpose: string) =>
      t.db.withContext({ orgId, actorType: 'user', purpose }, async (tx) =>
        (await tx.query<{ id: string }>('select id from ward.grant_probe order by note')).rows.map(
          (r) => r.id,
        ),
      );

    test('without a grant the provider sees nothing', async () => {
      assert.deepEqual(await seen(provider, 'TREAT'), []);
    });

    test('a grant opens exactly one patient, for its purposes, to its grantee only', async () => {
      const g = await t.db.withContext({ orgId: payer, actorType: 'user' }, (tx) =>
        createGrant(tx, principal(payer), {
          granteeOrganizationId: provider,
          patientId: patient,
          permissions: ['patient:read'],
          purposes: ['TREAT'],
          validUntil: new Date(Date.now() + 3_600_000).toISOString(),
          justificationType: 'prior_authorization',
          justificationId: randomUUID(),
        }),
      );
      assert.deepEqual(await seen(provider, 'TREAT'), [patient]);
      assert.deepEqual(await seen(provider, 'HPAYMT'), [], 'another purpose is not covered');
      assert.deepEqual(await seen(stranger, 'TREAT'), [], 'a third organization sees nothing');
      // The grantee sees the grant; the stranger does not; only the owner may revoke.
      const grants = (orgId: string) =>
        t.db.withContext(
          { orgId, actorType: 'user' },
          async (tx) => (await tx.query('select id from ward.access_grants')).rowCount,
        );
      assert.equal(await grants(provider), 1);
      assert.equal(await grants(stranger), 0);
      await assert.rejects(
        t.db.withContext({ orgId: provider, actorType: 'user' }, (tx) =>
          revokeGrant(tx, principal(provider), g.id),
        ),
        (e: unknown) => isWardError(e, 'not_found'),
      );
      // The grantee can neither extend a grant (no privilege on the column) nor touch the
      // columns it could update in its own grants (RLS lets it only read grants made to it).
      await assert.rejects(
        t.db.withContext({ orgId: provider, actorType: 'user' }, (tx) =>
          tx.query(
            "update ward.access_grants set valid_until = now() + interval '10 years' where id = $1",
            [g.id],
          ),
        ),
        (e: unknown) => pgCode(e) === '42501',
      );
      const unrevoke = await t.db.withContext({ orgId: provider, actorType: 'user' }, (tx) =>
        tx.query(
          'update ward.access_grants set revoked_at = null, revoked_by = null where id = $1',
          [g.id],
        ),
      );
      assert.equal(unrevoke.rowCount, 0, 'the grantee cannot modify the grant');
      await t.db.withContext({ orgId: payer, actorType: 'user' }, (tx) =>
        revokeGrant(tx, principal(payer), g.id),
      );
      assert.deepEqual(await seen(provider, 'TREAT'), []);
    });

    test('a grant expires on time', async () => {
      const g = await t.db.withContext({ orgId: payer, actorType: 'user' }, (tx) =>
        createGrant(tx, principal(payer), {
          granteeOrganizationId: provider,
          patientId: patient,
          permissions: ['patient:read'],
          purposes: ['TREAT'],
          validUntil: new Date(Date.now() + 3_600_000).toISOString(),
          justificationType: 'prior_authorization',
          justificationId: randomUUID(),
        }),
      );
      assert.deepEqual(await seen(provider, 'TREAT'), [patient]);
      await t.db.asAdmin((tx) =>
        tx.query(
          "update ward.access_grants set valid_from = now() - interval '2 hours', valid_until = now() - interval '1 millisecond' where id = $1",
          [g.id],
        ),
      );
      assert.deepEqual(await seen(provider, 'TREAT'), []);
    });

    test('grants are refused for self, unknown purposes, ETREAT, write permissions and long windows', async () => {
      const base = {
        granteeOrganizationId: provider,
        patientId: patient,
        permissions: ['patient:read'],
        purposes: ['TREAT'],
        validUntil: new Date(Date.now() + 3_600_000).toISOString(),
        justificationType: 'prior_authorization',
        justificationId: randomUUID(),
      };
      const attempt = (over: Partial<typeof base>) =>
        assert.rejects(
          t.db.withContext({ orgId: payer, actorType: 'user' }, (tx) =>
            createGrant(tx, principal(payer), { ...base, ...over }),
          ),
          (e: unknown) => isWardError(e, 'validation_failed'),
        );
      await attempt({ granteeOrganizationId: payer });
      await attempt({ purposes: ['FUN'] });
      await attempt({ purposes: ['ETREAT'] });
      await attempt({ permissions: ['patient:update'] });
      await attempt({ validUntil: new Date(Date.now() + 400 * 86_400_000).toISOString() });
    });
  });
}
