import type { FastifyInstance } from 'fastify';
import {
  dateTime,
  errorResponses,
  idParams,
  nullableDateTime,
  nullableString,
  object,
  problem,
  uuid,
} from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import type { FieldCodec } from '../../crypto/codec.ts';
import { caseResource, loadCase } from '../cases-service.ts';
import { etagOf, ifMatchVersion } from './etag.ts';
import {
  findMedications,
  loadPlan,
  planPhiFields,
  planPrescriptions,
  planView,
  prescribe,
  prescriptionView,
  reviewPlan,
  transitionPlan,
  writePlan,
  type PlanStatus,
  type PlanCreate,
  type PrescriptionCreate,
} from '../plans-service.ts';

const tags = ['clinical'];
const json = { type: 'array', maxItems: 100 } as const;

const prescriptionSchema = object({
  id: uuid,
  planId: uuid,
  medicationId: uuid,
  medicationName: { type: 'string' },
  dose: { type: 'string' },
  route: { type: 'string' },
  frequency: { type: 'string' },
  startDate: { type: 'string' },
  endDate: nullableString,
  prescriberId: uuid,
  createdAt: dateTime,
});

const planSchema = object(
  {
    id: uuid,
    caseId: uuid,
    patientId: uuid,
    title: { type: 'string' },
    goals: { type: 'array' },
    interventions: { type: 'array' },
    schedule: { type: 'object', additionalProperties: true },
    status: { type: 'string' },
    authorId: uuid,
    reviewerId: nullableString,
    reviewedAt: nullableDateTime,
    version: { type: 'integer' },
    createdAt: dateTime,
    prescriptions: { type: 'array', items: prescriptionSchema },
  },
  ['id', 'caseId', 'patientId', 'title', 'status', 'version', 'createdAt'],
);

const medicationSchema = object({
  id: uuid,
  name: { type: 'string' },
  rxnormCode: nullableString,
  form: { type: 'string' },
  strength: { type: 'string' },
});

/** Treatment plans with their prescriptions, and the medication catalog search. */
export function registerPlanRoutes(app: FastifyInstance, s: SecuredDeps, codec: FieldCodec) {
  securedRoute<PlanCreate, { id: string }>(app, s, {
    method: 'POST',
    url: '/cases/:id/plans',
    permission: 'treatment_plan:create',
    phi: true,
    status: 201,
    schema: {
      operationId: 'writePlan',
      tags,
      params: idParams,
      body: object(
        {
          title: { type: 'string', minLength: 1, maxLength: 200 },
          goals: json,
          interventions: json,
          schedule: { type: 'object', maxProperties: 50 },
        },
        ['title'],
      ),
      response: { 201: planSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, body, authorize, audit }) => {
      const c = await loadCase(tx, principal.orgId, params.id, { forWrite: true });
      authorize({ permission: 'treatment_plan:create', resource: caseResource(c) });
      const plan = await writePlan(tx, codec, c, principal.userId, body);
      await audit({
        action: 'C',
        eventType: 'treatment_plan.create',
        entityType: 'TreatmentPlan',
        entityId: plan.id,
        patientId: plan.patient_id,
        phiFields: [...planPhiFields],
      });
      return { ...(await planView(tx, codec, plan)), prescriptions: [] };
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/plans/:id',
    permission: 'treatment_plan:read',
    phi: true,
    schema: {
      operationId: 'getPlan',
      tags,
      params: idParams,
      response: { 200: planSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, authorize, audit, reply }) => {
      const plan = await loadPlan(tx, principal.orgId, params.id);
      const c = await loadCase(tx, principal.orgId, plan.case_id);
      authorize({ permission: 'treatment_plan:read', resource: caseResource(c) });
      const rx = await planPrescriptions(tx, principal.orgId, plan.id);
      void reply.header('etag', etagOf(plan.version));
      await audit({
        action: 'R',
        eventType: 'treatment_plan.read',
        entityType: 'TreatmentPlan',
        entityId: plan.id,
        patientId: plan.patient_id,
        phiFields: [...planPhiFields, 'prescriptions'],
      });
      return { ...(await planView(tx, codec, plan)), prescriptions: rx.map(prescriptionView) };
    },
  });

  securedRoute<PrescriptionCreate, { id: string }>(app, s, {
    method: 'POST',
    url: '/plans/:id/prescriptions',
    permission: 'prescription:create',
    phi: true,
    status: 201,
    schema: {
      operationId: 'prescribe',
      tags,
      params: idParams,
      body: object(
        {
          medicationId: uuid,
          dose: { type: 'string', minLength: 1, maxLength: 60 },
          route: {
            type: 'string',
            enum: [
              'oral',
              'intravenous',
              'intramuscular',
              'subcutaneous',
              'topical',
              'inhaled',
              'sublingual',
              'rectal',
              'transdermal',
              'ophthalmic',
              'otic',
              'nasal',
            ],
          },
          frequency: { type: 'string', minLength: 1, maxLength: 60 },
          startDate: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
          endDate: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
        },
        ['medicationId', 'dose', 'route', 'frequency', 'startDate'],
      ),
      response: {
        201: object({ items: { type: 'array', items: prescriptionSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal, params, body, authorize, audit, reply }) => {
      const plan = await loadPlan(tx, principal.orgId, params.id);
      const c = await loadCase(tx, principal.orgId, plan.case_id, { forWrite: true });
      authorize({ permission: 'prescription:create', resource: caseResource(c) });
      const { prescriptions: rx, planVersion } = await prescribe(
        tx,
        principal.orgId,
        plan,
        principal.userId,
        body,
      );
      // The plan's new version: a review must be sent with it (If-Match).
      void reply.header('etag', etagOf(planVersion));
      await audit({
        action: 'C',
        eventType: 'prescription.create',
        entityType: 'TreatmentPlan',
        entityId: plan.id,
        patientId: plan.patient_id,
        phiFields: ['prescriptions'],
      });
      return { items: rx.map(prescriptionView) };
    },
  });

  securedRoute<{ status: PlanStatus }, { id: string }>(app, s, {
    method: 'POST',
    url: '/plans/:id/transition',
    permission: 'treatment_plan:update',
    phi: true,
    schema: {
      operationId: 'transitionPlan',
      tags,
      params: idParams,
      description:
        'draft → active (after review) → completed; draft or active → cancelled. Requires If-Match: "<version>".',
      body: object({ status: { type: 'string', enum: ['active', 'completed', 'cancelled'] } }),
      response: { 200: planSchema, ...errorResponses, 412: problem, 428: problem },
    },
    handler: async ({ req, tx, principal, params, body, authorize, audit, reply }) => {
      const expected = ifMatchVersion(req);
      const plan = await loadPlan(tx, principal.orgId, params.id);
      const c = await loadCase(tx, principal.orgId, plan.case_id, { forWrite: true });
      authorize({ permission: 'treatment_plan:update', resource: caseResource(c) });
      const moved = await transitionPlan(tx, plan, expected, body.status);
      await audit({
        action: 'U',
        eventType: 'treatment_plan.transition',
        entityType: 'TreatmentPlan',
        entityId: plan.id,
        patientId: plan.patient_id,
        phiFields: [...planPhiFields],
        metadata: { from: plan.status, to: moved.status, version: moved.version },
      });
      void reply.header('etag', etagOf(moved.version));
      return {
        ...(await planView(tx, codec, moved)),
        prescriptions: (await planPrescriptions(tx, principal.orgId, plan.id)).map(
          prescriptionView,
        ),
      };
    },
  });

  securedRoute<Record<string, never>, { id: string }>(app, s, {
    method: 'POST',
    url: '/plans/:id/review',
    permission: 'treatment_plan:update',
    phi: true,
    schema: {
      operationId: 'reviewPlan',
      tags,
      params: idParams,
      description:
        'Records that the caller, a clinician other than the author, reviewed the draft plan. Requires If-Match: "<version>".',
      body: object({}),
      response: { 200: planSchema, ...errorResponses, 412: problem, 428: problem },
    },
    handler: async ({ req, tx, principal, params, authorize, audit, reply }) => {
      const expected = ifMatchVersion(req);
      const plan = await loadPlan(tx, principal.orgId, params.id);
      const c = await loadCase(tx, principal.orgId, plan.case_id, { forWrite: true });
      authorize({ permission: 'treatment_plan:update', resource: caseResource(c) });
      const reviewed = await reviewPlan(tx, plan, expected, principal.userId);
      await audit({
        action: 'U',
        eventType: 'treatment_plan.review',
        entityType: 'TreatmentPlan',
        entityId: plan.id,
        patientId: plan.patient_id,
        phiFields: [...planPhiFields],
        metadata: { authorId: plan.author_id, version: reviewed.version },
      });
      void reply.header('etag', etagOf(reviewed.version));
      return {
        ...(await planView(tx, codec, reviewed)),
        prescriptions: (await planPrescriptions(tx, principal.orgId, plan.id)).map(
          prescriptionView,
        ),
      };
    },
  });

  securedRoute<unknown, unknown, { q: string }>(app, s, {
    method: 'GET',
    url: '/medications',
    permission: 'medication:read',
    schema: {
      operationId: 'searchMedications',
      tags,
      querystring: object({ q: { type: 'string', minLength: 1, maxLength: 100 } }),
      response: {
        200: object({ items: { type: 'array', items: medicationSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, query }) => ({
      items: (await findMedications(tx, query.q)).map((m) => ({
        id: m.id,
        name: m.name,
        rxnormCode: m.rxnorm_code,
        form: m.form,
        strength: m.strength,
      })),
    }),
  });
}
