import type { FastifyInstance } from 'fastify';
import {
  pageQueryProperties,
  pageSchema,
  type PageQuery,
} from '../../../platform/http/pagination.ts';
import { errorResponses, idParams, object, problem } from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { recordDisclosure } from '../../audit/disclosure.ts';
import type { FieldCodec } from '../../crypto/codec.ts';
import { visibilityFor } from '../patient-fields.ts';
import type { PatientCreate, PatientPatch, PatientSearch } from '../patient-model.ts';
import {
  insertPreparedPatient,
  listPatientPage,
  phiFieldsIn,
  preparePatient,
  readPatientOrGranted,
  searchKey,
  searchPatients,
  updatePatient,
} from '../patients-service.ts';
import { etagOf, ifMatchVersion } from './etag.ts';
import {
  patientCreateBody,
  patientPatchBody,
  patientSchema,
  patientSearchBody,
} from './patient-schemas.ts';

const tags = ['clinical'];

/**
 * The patient routes of the core contract. Each PHI response records exactly one audit event
 * naming the fields it returned; a caller may neither write nor search by a field it may not
 * see (the evaluator's field check), so no route is an oracle for a hidden field.
 */
export function registerPatientRoutes(app: FastifyInstance, s: SecuredDeps, codec: FieldCodec) {
  securedRoute<PatientCreate>(app, s, {
    method: 'POST',
    url: '/patients',
    permission: 'patient:create',
    phi: true,
    status: 201,
    schema: {
      operationId: 'createPatient',
      tags,
      body: patientCreateBody,
      response: { 201: patientSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, body, authorize, audit, reply }) => {
      const written = phiFieldsIn(body);
      const d = authorize({ permission: 'patient:create', fields: written });
      const vis = visibilityFor(d.fields, principal);
      const p = await preparePatient(tx, codec, principal.orgId, principal.userId, body, vis);
      // Recorded before the insert, which is the request's last statement and carries the
      // COMMIT: event, insert and COMMIT travel together (with the opening, one round trip).
      // If the insert fails, all of it rolls back and the failure is recorded on its own.
      await audit({
        action: 'C',
        eventType: 'patient.create',
        entityType: 'Patient',
        entityId: p.id,
        patientId: p.id,
        phiFields: p.disclosed,
        metadata: { fieldsWritten: written },
      });
      const r = await insertPreparedPatient(tx, p, { commit: true });
      void reply.header('etag', etagOf(r.value.version));
      return r.value;
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/patients/:id',
    patientParam: 'id',
    permission: 'patient:read',
    phi: true,
    schema: {
      operationId: 'getPatient',
      tags,
      params: idParams,
      response: { 200: patientSchema, ...errorResponses },
    },
    handler: async ({ req, tx, principal, params, authorize, audit, reply }) => {
      const d = authorize({ permission: 'patient:read', resource: { patientId: params.id } });
      const vis = visibilityFor(d.fields, principal);
      const r = await readPatientOrGranted(tx, codec, principal.orgId, params.id, vis);
      await audit({
        action: 'R',
        eventType: 'patient.read',
        entityType: 'Patient',
        entityId: r.value.id,
        patientId: r.value.id,
        phiFields: r.disclosed,
        ...(r.grantedBy ? { metadata: { ownerOrganizationId: r.grantedBy } } : {}),
      });
      if (r.grantedBy) {
        await recordDisclosure(tx, {
          ownerOrgId: r.grantedBy,
          patientId: r.value.id,
          entityType: 'Patient',
          entityId: r.value.id,
          phiFields: r.disclosed,
          ip: req.ip,
          userAgent: req.headers['user-agent'],
        });
      }
      void reply.header('etag', etagOf(r.value.version));
      return r.value;
    },
  });

  securedRoute<unknown, unknown, PageQuery & { status?: string }>(app, s, {
    method: 'GET',
    url: '/patients',
    permission: 'patient:read',
    phi: true,
    schema: {
      operationId: 'listPatients',
      tags,
      querystring: object(
        {
          ...pageQueryProperties,
          status: { type: 'string', enum: ['active', 'inactive', 'deceased'] },
        },
        [],
      ),
      response: { 200: pageSchema(patientSchema), ...errorResponses },
    },
    handler: async ({ tx, principal, decision, query, authorize, audit }) => {
      // Break-glass opens named patients, not the organization's list of them.
      if (decision.breakGlass) authorize({ permission: 'patient:read', resource: {} });
      const vis = visibilityFor(decision.fields, principal);
      const r = await listPatientPage(tx, codec, principal.orgId, query, vis);
      const ids = r.value.items.map((p) => p.id);
      await audit({
        action: 'R',
        eventType: 'patient.list',
        entityType: 'Patient',
        ...(ids.length === 1 && ids[0] ? { entityId: ids[0], patientId: ids[0] } : {}),
        phiFields: r.disclosed,
        // One event per page: the fields disclosed and every patient they belong to.
        metadata: {
          count: ids.length,
          patientIds: ids,
          ...(query.status ? { status: query.status } : {}),
        },
      });
      return r.value;
    },
  });

  securedRoute<PatientSearch>(app, s, {
    method: 'POST',
    url: '/patients/search',
    permission: 'patient:search',
    phi: true,
    schema: {
      operationId: 'searchPatients',
      tags,
      body: patientSearchBody,
      response: {
        200: object({ items: { type: 'array', items: patientSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal, body, authorize, audit }) => {
      const key = searchKey(body);
      const d = authorize({ permission: 'patient:search', fields: key.fields });
      const vis = visibilityFor(d.fields, principal);
      const r = await searchPatients(tx, codec, principal.orgId, body, vis);
      const ids = r.value.map((p) => p.id);
      await audit({
        action: 'E',
        eventType: 'patient.search',
        entityType: 'Patient',
        ...(ids.length === 1 && ids[0] ? { entityId: ids[0], patientId: ids[0] } : {}),
        phiFields: r.disclosed,
        // The key's name, never its value; the ids of every patient disclosed.
        metadata: { searchBy: key.by, matches: ids.length, patientIds: ids },
      });
      return { items: r.value };
    },
  });

  securedRoute<PatientPatch, { id: string }>(app, s, {
    method: 'PATCH',
    url: '/patients/:id',
    patientParam: 'id',
    permission: 'patient:update',
    phi: true,
    schema: {
      operationId: 'updatePatient',
      tags,
      params: idParams,
      body: patientPatchBody,
      response: { 200: patientSchema, ...errorResponses, 412: problem, 428: problem },
    },
    handler: async ({ req, tx, principal, body, params, authorize, audit, reply }) => {
      const expected = ifMatchVersion(req);
      const written = phiFieldsIn(body);
      const d = authorize({ permission: 'patient:update', fields: written });
      const vis = visibilityFor(d.fields, principal);
      const r = await updatePatient(tx, codec, principal.orgId, params.id, expected, body, vis);
      await audit({
        action: 'U',
        eventType: 'patient.update',
        entityType: 'Patient',
        entityId: r.value.id,
        patientId: r.value.id,
        phiFields: r.disclosed,
        metadata: { fieldsWritten: written, version: r.value.version },
      });
      void reply.header('etag', etagOf(r.value.version));
      return r.value;
    },
  });
}
