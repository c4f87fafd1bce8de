import type { FastifyInstance } from 'fastify';
import { WardError } from '../../../platform/errors.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../../../platform/http/pagination.ts';
import { errorResponses, idParams } from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import type { FieldCodec } from '../../crypto/codec.ts';
import { reportPeriod } from '../period.ts';
import { cursorPosition, positionCursor } from '../positions.ts';
import {
  breakGlassReport,
  disclosureReport,
  patientAccessReport,
  userActivityReport,
  type ReportHeader,
} from '../reports-service.ts';
import type { PatientCountPosition } from '../user-activity.ts';
import {
  breakGlassQuery,
  breakGlassReportSchema,
  disclosureReportSchema,
  disclosuresQuery,
  patientAccessReportSchema,
  periodQuery,
  userActivityReportSchema,
} from './schemas.ts';

const tags = ['reports'];

interface PeriodQuery {
  readonly from?: string;
  readonly to?: string;
  readonly cursor?: string;
  readonly limit?: string;
}

/** Default ranges: three years of access history (HITECH), six of disclosures (164.528). */
const accessYears = 3;
const disclosureYears = 6;

/** The response's header fields. */
function head(h: ReportHeader) {
  return { organizationId: h.organizationId, period: h.period, generatedAt: h.generatedAt };
}

/** The cursor of the user-activity list: an event count and a patient id, both re-checked. */
function activityPosition(cursor: string | undefined): PatientCountPosition | undefined {
  const key = decodeCursor('report-user-activity', cursor, 2);
  if (key === undefined) return undefined;
  const [events, patientId] = key;
  if (
    events === undefined ||
    patientId === undefined ||
    !/^\d{1,9}$/.test(events) ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(patientId)
  )
    throw new WardError('invalid_cursor');
  return { events: Number(events), patientId };
}

/**
 * The privacy officer's reports (module `reports`), behind `audit:read`: the access report and
 * the accounting of disclosures for a patient, the break-glass review, and one actor's
 * activity. They read the audit trail and the access tables of the caller's organization only,
 * name no PHI values, and every read of a report is itself an audit event.
 */
export function registerReportRoutes(
  app: FastifyInstance,
  s: SecuredDeps,
  codec: FieldCodec,
): void {
  securedRoute<unknown, { id: string }, PeriodQuery>(app, s, {
    method: 'GET',
    url: '/reports/patients/:id/access',
    patientParam: 'id',
    permission: 'audit:read',
    phi: true,
    schema: {
      operationId: 'patientAccessReport',
      tags,
      params: idParams,
      querystring: periodQuery,
      response: { 200: patientAccessReportSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, query, audit }) => {
      const patientId = params.id.toLowerCase();
      const period = reportPeriod(query, accessYears);
      const r = await patientAccessReport(tx, principal.orgId, patientId, period, {
        limit: pageLimit(query),
        after: cursorPosition('report-patient-access', query.cursor),
      });
      await audit({
        action: 'R',
        eventType: 'report.patient_access',
        entityType: 'Patient',
        entityId: patientId,
        patientId,
        metadata: { from: period.from, to: period.to, returned: r.items.length },
      });
      return {
        ...head(r.header),
        patientId,
        summary: r.summary,
        items: r.items,
        nextCursor: positionCursor('report-patient-access', r.next),
      };
    },
  });

  securedRoute<unknown, { id: string }, PeriodQuery & { allPurposes?: string }>(app, s, {
    method: 'GET',
    url: '/reports/patients/:id/disclosures',
    patientParam: 'id',
    permission: 'audit:read',
    phi: true,
    schema: {
      operationId: 'disclosureAccounting',
      tags,
      params: idParams,
      querystring: disclosuresQuery,
      response: { 200: disclosureReportSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, query, audit }) => {
      const patientId = params.id.toLowerCase();
      const period = reportPeriod(query, disclosureYears);
      const allPurposes = query.allPurposes === 'true';
      // The filter is part of the list: a cursor of one view is not valid for the other.
      const scope = `report-disclosures:${String(allPurposes)}`;
      const r = await disclosureReport(tx, principal.orgId, patientId, period, {
        allPurposes,
        limit: pageLimit(query),
        after: cursorPosition(scope, query.cursor),
      });
      await audit({
        action: 'R',
        eventType: 'report.disclosures',
        entityType: 'Patient',
        entityId: patientId,
        patientId,
        metadata: { from: period.from, to: period.to, allPurposes, returned: r.items.length },
      });
      return {
        ...head(r.header),
        patientId,
        allPurposes,
        summary: r.summary,
        items: r.items,
        nextCursor: positionCursor(scope, r.next),
      };
    },
  });

  securedRoute<
    unknown,
    unknown,
    PeriodQuery & { userId?: string; patientId?: string; unreviewed?: string }
  >(app, s, {
    method: 'GET',
    url: '/reports/break-glass',
    permission: 'audit:read',
    phi: true,
    schema: {
      operationId: 'breakGlassReport',
      tags,
      querystring: breakGlassQuery,
      response: { 200: breakGlassReportSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, query, audit }) => {
      const period = reportPeriod(query, accessYears);
      const filters = {
        userId: query.userId?.toLowerCase(),
        patientId: query.patientId?.toLowerCase(),
        unreviewed: query.unreviewed === 'true',
      };
      const scope = `report-break-glass:${JSON.stringify(filters)}`;
      const r = await breakGlassReport(tx, codec, principal.orgId, period, filters, {
        limit: pageLimit(query),
        after: cursorPosition(scope, query.cursor, 'uuid'),
      });
      await audit({
        action: 'R',
        eventType: 'report.break_glass',
        entityType: 'BreakGlass',
        ...(filters.patientId ? { patientId: filters.patientId } : {}),
        // The sessions' reasons are free text about patients (decrypted to be returned).
        phiFields: r.items.length > 0 ? ['reason'] : [],
        metadata: {
          from: period.from,
          to: period.to,
          filters: Object.keys(query)
            .filter((k) => ['userId', 'patientId', 'unreviewed'].includes(k))
            .sort(),
          returned: r.items.length,
        },
      });
      return {
        ...head(r.header),
        summary: r.summary,
        items: r.items,
        nextCursor: positionCursor(scope, r.next),
      };
    },
  });

  securedRoute<unknown, { id: string }, PeriodQuery>(app, s, {
    method: 'GET',
    url: '/reports/users/:id/activity',
    permission: 'audit:read',
    phi: true,
    schema: {
      operationId: 'userActivityReport',
      tags,
      params: idParams,
      querystring: periodQuery,
      response: { 200: userActivityReportSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, query, audit }) => {
      const userId = params.id.toLowerCase();
      const period = reportPeriod(query, accessYears);
      const r = await userActivityReport(tx, principal.orgId, userId, period, {
        limit: pageLimit(query),
        after: activityPosition(query.cursor),
      });
      await audit({
        action: 'R',
        eventType: 'report.user_activity',
        entityType: 'User',
        entityId: userId,
        metadata: { from: period.from, to: period.to, returned: r.items.length },
      });
      return {
        ...head(r.header),
        userId,
        summary: r.summary,
        items: r.items,
        nextCursor: r.next
          ? encodeCursor('report-user-activity', [String(r.next.events), r.next.patientId])
          : null,
      };
    },
  });
}
