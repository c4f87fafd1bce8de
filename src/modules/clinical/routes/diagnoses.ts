import type { FastifyInstance } from 'fastify';
import {
  dateTime,
  errorResponses,
  idParams,
  nullableDateTime,
  nullableString,
  object,
  uuid,
} from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import type { FieldCodec } from '../../crypto/codec.ts';
import { caseResource, loadCase } from '../cases-service.ts';
import {
  caseDiagnoses,
  decideDiagnosis,
  diagnosisPhiFields,
  diagnosisView,
  loadDiagnosis,
  recordDiagnosis,
  type DiagnosisCreate,
  type DiagnosisDecision,
} from '../diagnoses-service.ts';

const tags = ['clinical'];
const icd10 = { type: 'string', minLength: 3, maxLength: 8, pattern: '^[A-Za-z0-9.]+$' } as const;

const diagnosisSchema = object({
  id: uuid,
  caseId: uuid,
  patientId: uuid,
  icd10Code: { type: 'string' },
  icd10Version: { type: 'string' },
  description: { type: 'string' },
  status: { type: 'string' },
  source: { type: 'string' },
  modelId: nullableString,
  modelVersion: nullableString,
  confidence: { type: ['number', 'null'] },
  evidence: { type: 'object', additionalProperties: true },
  suggestedBy: nullableString,
  decidedBy: nullableString,
  decidedAt: nullableDateTime,
  decisionReason: nullableString,
  revisedTo: nullableString,
  createdAt: dateTime,
});

/** Diagnoses: clinician-recorded or AI-suggested ICD-10-CM codes on a case, and decisions. */
export function registerDiagnosisRoutes(app: FastifyInstance, s: SecuredDeps, codec: FieldCodec) {
  securedRoute<DiagnosisCreate, { id: string }>(app, s, {
    method: 'POST',
    url: '/cases/:id/diagnoses',
    permission: 'diagnosis:create',
    phi: true,
    status: 201,
    schema: {
      operationId: 'recordDiagnosis',
      tags,
      params: idParams,
      body: object(
        {
          icd10Code: icd10,
          source: { type: 'string', enum: ['clinician', 'ai'] },
          modelId: { type: 'string', minLength: 1, maxLength: 200 },
          modelVersion: { type: 'string', minLength: 1, maxLength: 100 },
          confidence: { type: 'number', minimum: 0, maximum: 1 },
          evidence: { type: 'object', maxProperties: 50 },
        },
        ['icd10Code', 'source'],
      ),
      response: { 201: diagnosisSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, body, authorize, audit }) => {
      const c = await loadCase(tx, principal.orgId, params.id, { forWrite: true });
      authorize({ permission: 'diagnosis:create', resource: caseResource(c) });
      const row = await recordDiagnosis(tx, codec, c, principal.userId, body);
      await audit({
        action: 'C',
        eventType: 'diagnosis.create',
        entityType: 'Diagnosis',
        entityId: row.id,
        patientId: row.patient_id,
        phiFields: [...diagnosisPhiFields],
        metadata: { source: row.source, status: row.status },
      });
      return diagnosisView(tx, codec, row);
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/cases/:id/diagnoses',
    permission: 'diagnosis:read',
    phi: true,
    schema: {
      operationId: 'listDiagnoses',
      tags,
      params: idParams,
      response: {
        200: object({ items: { type: 'array', items: diagnosisSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal, params, authorize, audit }) => {
      const c = await loadCase(tx, principal.orgId, params.id);
      authorize({ permission: 'diagnosis:read', resource: caseResource(c) });
      const rows = await caseDiagnoses(tx, c);
      await audit({
        action: 'R',
        eventType: 'diagnosis.list',
        entityType: 'MedicalCase',
        entityId: c.id,
        patientId: c.patient_id,
        phiFields: rows.length > 0 ? [...diagnosisPhiFields] : [],
        metadata: { count: rows.length },
      });
      const items = [];
      for (const r of rows) items.push(await diagnosisView(tx, codec, r));
      return { items };
    },
  });

  securedRoute<DiagnosisDecision, { id: string }>(app, s, {
    method: 'POST',
    url: '/diagnoses/:id/decision',
    permission: 'diagnosis:update',
    phi: true,
    schema: {
      operationId: 'decideDiagnosis',
      tags,
      params: idParams,
      body: object(
        {
          decision: { type: 'string', enum: ['confirm', 'reject', 'revise'] },
          reason: { type: 'string', minLength: 1, maxLength: 2000 },
          icd10Code: icd10,
        },
        ['decision'],
      ),
      response: { 200: diagnosisSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, body, authorize, audit }) => {
      const row = await loadDiagnosis(tx, principal.orgId, params.id);
      const c = await loadCase(tx, principal.orgId, row.case_id, { forWrite: true });
      authorize({ permission: 'diagnosis:update', resource: caseResource(c) });
      const decided = await decideDiagnosis(
        tx,
        codec,
        principal.orgId,
        row,
        principal.userId,
        body,
      );
      await audit({
        action: 'U',
        eventType: `diagnosis.${body.decision}`,
        entityType: 'Diagnosis',
        entityId: row.id,
        patientId: row.patient_id,
        phiFields: [...diagnosisPhiFields],
        // The reason is free text and may hold PHI: it stays in the row (encrypted), not the
        // audit metadata.
        metadata: { decision: body.decision, revisedTo: decided.revised_to },
      });
      return diagnosisView(tx, codec, decided);
    },
  });
}
