/** JSON schemas of the report routes; responses list every field so nothing else leaks. */

import { pageQueryProperties } from '../../../platform/http/pagination.ts';
import {
  dateTime,
  nullableDateTime,
  nullableString,
  object,
  stringList,
  uuid,
} from '../../../platform/http/schemas.ts';

const int = { type: 'integer' } as const;
const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;
// Bounds are checked by reportPeriod (one message for every form); the schema only caps size.
const bound = { type: 'string', minLength: 10, maxLength: 40 } as const;
const flag = { type: 'string', enum: ['true', 'false'] } as const;

/** `?from&to&cursor&limit`, plus a report's own filters. */
function reportQuery(extra: Record<string, unknown> = {}) {
  return object({ from: bound, to: bound, ...extra, ...pageQueryProperties }, []);
}
export const periodQuery = reportQuery();
export const disclosuresQuery = reportQuery({ allPurposes: flag });
export const breakGlassQuery = reportQuery({ userId: uuid, patientId: uuid, unreviewed: flag });

const period = object({ from: dateTime, to: dateTime });

/** A report response: header, totals, a page of rows and the cursor of the next page. */
function report(subject: Record<string, unknown>, summary: unknown, item: unknown) {
  return object({
    organizationId: uuid,
    ...subject,
    period,
    generatedAt: dateTime,
    summary,
    items: { type: 'array', items: item },
    nextCursor: nullableString,
  });
}

export const patientAccessReportSchema = report(
  { patientId: uuid },
  object({
    events: int,
    reads: int,
    writes: int,
    refused: int,
    disclosures: int,
    distinctActors: int,
    firstAt: nullableDateTime,
    lastAt: nullableDateTime,
    byPurpose: counts,
  }),
  object({
    eventId: int,
    occurredAt: dateTime,
    actorType: { type: 'string' },
    actorId: nullableString,
    actorName: nullableString,
    actorEmail: nullableString,
    onBehalfOf: nullableString,
    recipientOrganizationId: nullableString,
    recipientOrganizationName: nullableString,
    action: { type: 'string' },
    eventType: { type: 'string' },
    entityType: nullableString,
    entityId: nullableString,
    phiFields: stringList,
    purposeOfUse: nullableString,
    outcome: { type: 'string' },
    outcomeReason: nullableString,
    ip: nullableString,
    requestId: nullableString,
  }),
);

export const disclosureReportSchema = report(
  { patientId: uuid, allPurposes: { type: 'boolean' } },
  object({ listed: int, recipients: int, omittedByPurpose: counts }),
  object({
    eventId: int,
    occurredAt: dateTime,
    recipientOrganizationId: nullableString,
    recipientOrganizationName: nullableString,
    recipientActorType: { type: 'string' },
    recipientActorId: nullableString,
    purposeOfUse: nullableString,
    phiFields: stringList,
    entityType: nullableString,
    entityId: nullableString,
    requestId: nullableString,
  }),
);

export const breakGlassReportSchema = report(
  {},
  object({ sessions: int, unreviewed: int, users: int, patients: int }),
  object({
    sessionId: uuid,
    userId: uuid,
    userName: nullableString,
    userEmail: nullableString,
    patientId: nullableString,
    reason: { type: 'string' },
    startedAt: dateTime,
    expiresAt: dateTime,
    endedAt: nullableDateTime,
    accesses: int,
    refused: int,
    patientsTouched: int,
    reviewTaskId: nullableString,
    reviewStatus: nullableString,
    reviewResolution: nullableString,
    reviewedBy: nullableString,
    reviewedAt: nullableDateTime,
    alertId: nullableString,
    alertStatus: nullableString,
    alertResolution: nullableString,
  }),
);

export const userActivityReportSchema = report(
  { userId: uuid },
  object({
    events: int,
    reads: int,
    writes: int,
    refused: int,
    patients: int,
    firstAt: nullableDateTime,
    lastAt: nullableDateTime,
    byPurpose: counts,
    byEventType: counts,
  }),
  object({
    patientId: uuid,
    events: int,
    reads: int,
    writes: int,
    refused: int,
    purposes: stringList,
    firstAt: dateTime,
    lastAt: dateTime,
  }),
);
