import type { FastifyInstance } from 'fastify';
import {
  decodeCursor,
  encodeCursor,
  pageLimit,
  pageQueryProperties,
  pageSchema,
  type PageQuery,
} from '../../../platform/http/pagination.ts';
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
import { listCases, type CasePriority, type CaseStatus } from '../cases-repo.ts';
import {
  caseResource,
  caseView,
  caseViewPhiFields,
  loadCase,
  openCase,
  setCareTeam,
  transitionCase,
  type CaseCreate,
} from '../cases-service.ts';

const tags = ['clinical'];
const statuses = ['open', 'in_review', 'diagnosed', 'treatment', 'closed'];
const team = { type: 'array', items: uuid, maxItems: 50 } as const;

const caseSchema = object(
  {
    id: uuid,
    patientId: uuid,
    status: { type: 'string', enum: statuses },
    priority: { type: 'string' },
    chiefComplaint: { type: 'string' },
    symptoms: { type: 'array' },
    vitals: { type: 'object', additionalProperties: true },
    tags: { type: 'array', items: { type: 'string' } },
    assignedClinicians: { type: 'array', items: uuid },
    openedBy: nullableString,
    closedAt: nullableDateTime,
    version: { type: 'integer' },
    createdAt: dateTime,
    updatedAt: dateTime,
  },
  [
    'id',
    'patientId',
    'status',
    'priority',
    'symptoms',
    'vitals',
    'tags',
    'assignedClinicians',
    'version',
    'createdAt',
    'updatedAt',
  ],
);

const createBody = object(
  {
    patientId: uuid,
    chiefComplaint: { type: 'string', minLength: 1, maxLength: 4000 },
    priority: { type: 'string', enum: ['low', 'normal', 'high', 'urgent'] },
    symptoms: { type: 'array', maxItems: 100 },
    vitals: { type: 'object', maxProperties: 50 },
    tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 40 }, maxItems: 50 },
    assignedClinicians: team,
  },
  ['patientId', 'chiefComplaint'],
);

/** Medical cases: open, read (care-team aware), move through the workflow, set the care team. */
export function registerCaseRoutes(app: FastifyInstance, s: SecuredDeps, codec: FieldCodec) {
  securedRoute<CaseCreate>(app, s, {
    method: 'POST',
    url: '/cases',
    permission: 'case:create',
    phi: true,
    status: 201,
    schema: {
      operationId: 'openCase',
      tags,
      body: createBody,
      response: { 201: caseSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, body, audit }) => {
      const row = await openCase(tx, codec, principal.orgId, principal.userId, body);
      await audit({
        action: 'C',
        eventType: 'case.create',
        entityType: 'MedicalCase',
        entityId: row.id,
        patientId: row.patient_id,
        phiFields: ['chiefComplaint', ...caseViewPhiFields],
      });
      return caseView(tx, codec, row, true);
    },
  });

  securedRoute<
    unknown,
    unknown,
    PageQuery & {
      status?: CaseStatus;
      priority?: CasePriority;
      patientId?: string;
      assignedToMe?: 'true' | 'false';
    }
  >(app, s, {
    method: 'GET',
    url: '/cases',
    permission: 'case:read',
    phi: true,
    schema: {
      operationId: 'listCases',
      tags,
      description:
        "Cases in creation order, filtered by non-PHI fields; the chief complaint is not included (read a case for it). Cases the caller's policies deny (e.g. care-team rules) are left out.",
      querystring: object(
        {
          ...pageQueryProperties,
          status: { type: 'string', enum: statuses },
          priority: { type: 'string', enum: ['low', 'normal', 'high', 'urgent'] },
          patientId: uuid,
          assignedToMe: { type: 'string', enum: ['true', 'false'] },
        },
        [],
      ),
      response: { 200: pageSchema(caseSchema), ...errorResponses },
    },
    handler: async ({ tx, principal, decision, query, authorize, check, audit }) => {
      // An emergency session opens named patients: under break-glass the list must be one
      // of theirs (`patientId`), never the organization's cases.
      if (decision.breakGlass)
        authorize({ permission: 'case:read', resource: { patientId: query.patientId } });
      const limit = pageLimit(query);
      const after = decodeCursor('cases', query.cursor, 2);
      const rows = await listCases(
        tx,
        principal.orgId,
        {
          patientId: query.patientId,
          status: query.status,
          priority: query.priority,
          clinicianId: query.assignedToMe === 'true' ? principal.userId : undefined,
        },
        after ? { createdAt: after[0] ?? '', id: after[1] ?? '' } : undefined,
        limit + 1,
      );
      const scanned = rows.slice(0, limit);
      const visible = scanned.filter(
        (r) => check({ permission: 'case:read', resource: caseResource(r) }).allow,
      );
      const items = [];
      for (const r of visible) items.push(await caseView(tx, codec, r, false));
      const patientIds = [...new Set(visible.map((r) => r.patient_id))];
      await audit({
        action: 'R',
        eventType: 'case.list',
        entityType: 'MedicalCase',
        ...(patientIds.length === 1 && patientIds[0] ? { patientId: patientIds[0] } : {}),
        phiFields: items.length > 0 ? [...caseViewPhiFields] : [],
        metadata: {
          count: items.length,
          caseIds: visible.map((r) => r.id),
          patientIds,
          withheld: scanned.length - visible.length,
        },
      });
      // The cursor follows the last row scanned, so withheld rows never repeat or stall paging.
      const last = scanned.at(-1);
      return {
        items,
        nextCursor:
          rows.length > limit && last ? encodeCursor('cases', [last.sort_at, last.id]) : null,
      };
    },
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/cases/:id',
    permission: 'case:read',
    phi: true,
    schema: {
      operationId: 'getCase',
      tags,
      params: idParams,
      response: { 200: caseSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, authorize, audit }) => {
      const row = await loadCase(tx, principal.orgId, params.id);
      authorize({ permission: 'case:read', resource: caseResource(row) });
      const view = await caseView(tx, codec, row, true);
      await audit({
        action: 'R',
        eventType: 'case.read',
        entityType: 'MedicalCase',
        entityId: row.id,
        patientId: row.patient_id,
        phiFields: ['chiefComplaint', ...caseViewPhiFields],
      });
      return view;
    },
  });

  securedRoute<{ status: CaseStatus }, { id: string }>(app, s, {
    method: 'POST',
    url: '/cases/:id/transition',
    permission: 'case:update',
    phi: true,
    schema: {
      operationId: 'transitionCase',
      tags,
      params: idParams,
      body: object({ status: { type: 'string', enum: statuses } }),
      response: { 200: caseSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, body, authorize, audit }) => {
      const row = await loadCase(tx, principal.orgId, params.id, { forWrite: true });
      authorize({ permission: 'case:update', resource: caseResource(row) });
      const moved = await transitionCase(tx, row, body.status);
      await audit({
        action: 'U',
        eventType: 'case.transition',
        entityType: 'MedicalCase',
        entityId: row.id,
        patientId: row.patient_id,
        phiFields: [...caseViewPhiFields],
        metadata: { from: row.status, to: moved.status },
      });
      return caseView(tx, codec, moved, false);
    },
  });

  securedRoute<{ assignedClinicians: string[] }, { id: string }>(app, s, {
    method: 'PUT',
    url: '/cases/:id/care-team',
    permission: 'case:update',
    phi: true,
    schema: {
      operationId: 'setCareTeam',
      tags,
      params: idParams,
      body: object({ assignedClinicians: team }),
      response: { 200: caseSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, body, authorize, audit }) => {
      const row = await loadCase(tx, principal.orgId, params.id, { forWrite: true });
      authorize({ permission: 'case:update', resource: caseResource(row) });
      const updated = await setCareTeam(tx, row, body.assignedClinicians);
      await audit({
        action: 'U',
        eventType: 'case.care_team',
        entityType: 'MedicalCase',
        entityId: row.id,
        patientId: row.patient_id,
        phiFields: [...caseViewPhiFields],
        metadata: { careTeamSize: updated.assigned_clinicians.length },
      });
      return caseView(tx, codec, updated, false);
    },
  });
}
