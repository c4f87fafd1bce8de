import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database } from '../../src/platform/db/index.ts';
import { storeAgentContext } from '../../src/modules/crypto/agent-context.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { insertTotpFactor, replaceRecoveryCodes } from '../../src/modules/auth/mfa-repo.ts';
import { fixtureCrypto } from './crypto.ts';
import { record } from '../../src/modules/audit/record.ts';
import { signerFromSeed, type CheckpointSigner } from '../../src/modules/audit/signer.ts';
import { sealUntilCovered } from './audit.ts';
import { createPatient } from '../../src/modules/clinical/patients-service.ts';
import { openCase } from '../../src/modules/clinical/cases-service.ts';
import { recordDiagnosis } from '../../src/modules/clinical/diagnoses-service.ts';
import { writePlan } from '../../src/modules/clinical/plans-service.ts';

/** A fixed checkpoint signer for tests (its seed is public: never use it for real data). */
export const fixtureSigner: CheckpointSigner = signerFromSeed(
  createHash('sha256').update('ward test audit signing key').digest(),
);

/** A password that passes the policy, for fixtures only. */
export const fixturePassword = 'fixture password for tests only';

/** What `seedTenant` created. */
export interface TenantFixture {
  readonly orgId: string;
  readonly adminId: string;
  readonly doctorId: string;
  readonly agentId: string;
  /** An encrypted ward.agent_policy_context row. */
  readonly agentContextId: string;
}

/**
 * Creates an organization with at least one row in every tenant table, through the same
 * services the product uses where they exist. The cross-tenant probe fails for any tenant
 * table this leaves empty, so each new tenant table must be added here.
 */
export async function seedTenant(db: Database, label: string): Promise<TenantFixture> {
  const org = await createOrganization(db, {
    name: `Tenant ${label}`,
    type: 'provider',
    taxId: `TAX-${label}`,
  });
  const admin = await createUser(db, {
    orgId: org.id,
    email: `admin-${label}-${randomBytes(3).toString('hex')}@example.test`,
    role: 'admin',
    password: fixturePassword,
  });
  const doctor = await createUser(db, {
    orgId: org.id,
    email: `doctor-${label}-${randomBytes(3).toString('hex')}@example.test`,
    role: 'doctor',
    password: fixturePassword,
    licenseNumber: `LIC-${label}`,
  });
  await db.withContext({ orgId: org.id, userId: doctor.id, actorType: 'user' }, async (tx) => {
    await tx.query(
      `insert into ward.sessions (organization_id, user_id, token_hash, ip, user_agent, expires_at)
       values ($1, $2, $3, '127.0.0.1', 'fixture', now() + interval '1 hour')`,
      [org.id, doctor.id, createHash('sha256').update(randomBytes(32)).digest()],
    );
    await record(tx, {
      action: 'R',
      eventType: 'fixture.read',
      entityType: 'User',
      entityId: doctor.id,
      phiFields: ['license_number'],
      purposeOfUse: 'TREAT',
    });
  });
  const agent = await createUser(db, {
    orgId: org.id,
    email: `agent-${label}-${randomBytes(3).toString('hex')}@example.test`,
    role: 'reviewer',
    principalType: 'agent',
  });
  // Encrypting creates the organization's first data key (encryption_keys); computing a
  // blind index creates its index root (blind_index_keys).
  const agentContextId = await db.withContext(
    { orgId: org.id, userId: agent.id, actorType: 'agent' },
    async (tx) => {
      await fixtureCrypto.codec.blindIndex(
        tx,
        org.id,
        fixtureEmailIndex,
        `x-${label}@example.test`,
      );
      return storeAgentContext(tx, fixtureCrypto.codec, {
        orgId: org.id,
        agentId: agent.id,
        purpose: 'HPAYMT',
        context: { member: `Member ${label}`, question: 'Is physiotherapy covered?' },
        expiresAt: new Date(Date.now() + 3_600_000),
      });
    },
  );
  // Identity and access rows (migrations 0005, 0021): an enrolled authenticator with recovery
  // codes, a pending MFA challenge and activation token, an agent API key, a policy (the break-glass and the grant follow
  // with the patient they name).
  const partner = await createOrganization(db, { name: `Partner of ${label}`, type: 'insurer' });
  await db.withContext({ orgId: org.id, userId: doctor.id, actorType: 'user' }, async (tx) => {
    await insertTotpFactor(tx, fixtureCrypto.codec, org.id, doctor.id, randomBytes(20));
    await replaceRecoveryCodes(tx, org.id, doctor.id, [
      createHash('sha256').update(randomBytes(16)).digest(),
    ]);
    await tx.query(
      `insert into ward.login_challenges (organization_id, id, user_id, token_hash, expires_at)
       values ($1, gen_random_uuid(), $2, $3, now() + interval '5 minutes')`,
      [org.id, doctor.id, createHash('sha256').update(randomBytes(32)).digest()],
    );
    // An activation token (migration 0021), as an administrator's invitation leaves one.
    await tx.query(
      `insert into ward.user_activations (organization_id, id, user_id, token_hash, expires_at)
       values ($1, gen_random_uuid(), $2, $3, now() + interval '72 hours')`,
      [org.id, doctor.id, createHash('sha256').update(randomBytes(32)).digest()],
    );
    await tx.query(
      `insert into ward.api_keys (organization_id, id, principal_id, name, token_hash, scopes, expires_at)
       values ($1, gen_random_uuid(), $2, 'fixture key', $3, array['prior_auth:read'], now() + interval '1 day')`,
      [org.id, agent.id, createHash('sha256').update(randomBytes(32)).digest()],
    );
    await tx.query(
      `insert into ward.access_policies (organization_id, name, document)
       values ($1, 'fixture policy', '{"effect":"deny","actions":["patient:read"],"actor":{"principalTypes":["agent"]}}')`,
      [org.id],
    );
  });
  // Clinical rows (migration 0006): a patient with encrypted PHI, a case, an AI-suggested
  // diagnosis, a plan with a prescription and an image's metadata.
  await db.withContext(
    { orgId: org.id, userId: doctor.id, actorType: 'user', purpose: 'TREAT' },
    async (tx) => {
      const patient = await createPatient(
        tx,
        fixtureCrypto.codec,
        org.id,
        doctor.id,
        {
          mrn: `MRN-${label}`,
          firstName: `Fixture ${label}`,
          lastName: 'Synthetic',
          dateOfBirth: '1970-01-01',
          ssn: '900-00-0001',
          email: `patient-${label.toLowerCase()}@example.test`,
          phone: '555-010-0100',
          address: { line1: '1 Fixture Way', city: 'Testville' },
          emergencyContact: { name: 'Fixture Contact' },
          insurance: { payer: 'Fixture Mutual', memberId: `M-${label}` },
        },
        { fields: [], clinical: false },
      );
      const patientId = patient.value.id;
      // A list page that showed the patient among others (audit.event_patients, migration 0020).
      await record(tx, {
        action: 'R',
        eventType: 'patient.list',
        entityType: 'Patient',
        metadata: { count: 1, patientIds: [patientId] },
      });
      // A break-glass on that patient, with its review task and alert (free text encrypted,
      // migration 0022).
      const seal = async (table: string, rowId: string, column: string, text: string) =>
        (
          await fixtureCrypto.codec.encryptRow(
            tx,
            { orgId: org.id, table, rowId },
            { [column]: text },
          )
        )[column];
      const bgId = randomUUID();
      await tx.query(
        `insert into ward.break_glass_sessions (organization_id, id, user_id, patient_id, reason_encrypted, expires_at)
         values ($1, $2, $3, $4, $5, now() + interval '5 minutes')`,
        [
          org.id,
          bgId,
          doctor.id,
          patientId,
          await seal(
            'ward.break_glass_sessions',
            bgId,
            'reason_encrypted',
            'fixture emergency access for the probe',
          ),
        ],
      );
      const taskId = randomUUID();
      await tx.query(
        `insert into ward.review_tasks (organization_id, id, kind, subject_id, subject_user_id, summary_encrypted)
         values ($1, $2, 'break_glass_review', $3, $4, $5)`,
        [
          org.id,
          taskId,
          bgId,
          doctor.id,
          await seal('ward.review_tasks', taskId, 'summary_encrypted', 'fixture review'),
        ],
      );
      await tx.query(
        `insert into ward.security_alerts (organization_id, kind, severity, subject_user_id)
         values ($1, 'access.break_glass', 'high', $2)`,
        [org.id, doctor.id],
      );
      // A grant of that patient to a partner organization (not to another probed tenant).
      await tx.query(
        `insert into ward.access_grants (organization_id, id, grantee_organization_id, patient_id, permissions, purposes,
                                         valid_until, justification_type, justification_id)
         values ($1, gen_random_uuid(), $2, $3, array['patient:read'], array['TREAT'],
                 now() + interval '1 day', 'fixture', gen_random_uuid())`,
        [org.id, partner.id, patientId],
      );
      // A case, an AI-suggested diagnosis and a plan, through the services (their free text
      // is encrypted there).
      const openedCase = await openCase(tx, fixtureCrypto.codec, org.id, doctor.id, {
        patientId,
        chiefComplaint: 'Fixture headache for three days',
        symptoms: ['headache'],
        tags: ['fixture'],
      });
      const caseId = openedCase.id;
      await recordDiagnosis(tx, fixtureCrypto.codec, openedCase, doctor.id, {
        icd10Code: 'R51.9',
        source: 'ai',
        modelId: 'fixture-model',
        modelVersion: '1.0',
        confidence: 0.5,
        evidence: { note: 'fixture evidence' },
      });
      const plan = await writePlan(tx, fixtureCrypto.codec, openedCase, doctor.id, {
        title: 'Fixture plan',
        goals: ['fixture goal'],
      });
      await tx.query(
        `insert into clinical.prescriptions (organization_id, id, plan_id, patient_id, medication_id, dose,
                                             route, frequency, start_date, prescriber_id)
         select $1, gen_random_uuid(), $2, $3, m.id, '500 mg', 'oral', 'every 6 hours', current_date, $4
           from clinical.medications m where m.name = 'Acetaminophen' limit 1`,
        [org.id, plan.id, patientId, doctor.id],
      );
      // An image whose content is stored: the sealed content key is a field value like any
      // other, so the PHI scans and key counts see it. (Images still waiting for their upload
      // are tested through the API; a rollback of 0008 refuses while any exists.)
      const imageId = randomUUID();
      const contentKey = await fixtureCrypto.codec.encryptKey(
        tx,
        {
          orgId: org.id,
          table: 'clinical.medical_images',
          column: 'content_key_encrypted',
          rowId: imageId,
        },
        randomBytes(32),
      );
      await tx.query(
        `insert into clinical.medical_images (organization_id, id, case_id, patient_id, modality, content_type,
                                              uploaded_by)
         values ($1, $2, $3, $4, 'MR', 'application/dicom', $5)`,
        [org.id, imageId, caseId, patientId, doctor.id],
      );
      await tx.query(
        `update clinical.medical_images
            set size_bytes = 4, sha256 = sha256('test'::bytea), storage_key = $3,
                content_key_encrypted = $4, content_stored_at = now()
          where organization_id = $1 and id = $2`,
        [org.id, imageId, `${org.id}/${imageId}/${randomUUID()}`, contentKey],
      );
    },
  );
  // A blind-index normalization row (migration 0023), as `ward keys reindex` records one when
  // it completes a column: only the reindex job (ward_system) writes that table.
  await db.asSystem(
    { name: 'test.fixture', reason: 'records a reindexed column', orgId: org.id },
    (tx) =>
      tx.query(
        `insert into ward.blind_index_normalization (organization_id, column_name, normalization, reindexed_at)
         values ($1, 'clinical.patients.email_bidx', 2, now())`,
        [org.id],
      ),
  );
  // Audit events become checkpoints only when sealed; seal so both audit tables have rows.
  await sealUntilCovered(db, fixtureSigner, [org.id]);
  // An idempotency key (migration 0007); visible only to the principal that used it.
  await db.withContext({ orgId: org.id, userId: admin.id, actorType: 'user' }, async (tx) => {
    await tx.query(
      `insert into ward.idempotency_keys
         (organization_id, principal_id, idempotency_key, route, request_hash, status_code, expires_at)
       values ($1, $2, 'fixture-key', 'POST /api/v1/users', $3, 201, now() + interval '1 day')`,
      [org.id, admin.id, createHash('sha256').update(label).digest()],
    );
  });
  return {
    orgId: org.id,
    adminId: admin.id,
    doctorId: doctor.id,
    agentId: agent.id,
    agentContextId,
  };
}

/** A blind-index descriptor used only to exercise index keys in fixtures (not in the schema). */
const fixtureEmailIndex = Object.freeze({
  schema: 'test',
  table: 'fixtures',
  column: 'email_bidx',
  kind: 'email' as const,
  bits: 64,
  purpose: 'fixture',
  idColumn: 'id',
  sources: ['email_encrypted'],
});
