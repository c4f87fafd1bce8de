import type { Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import {
  breakGlassPage,
  breakGlassSummary,
  type BreakGlassFilters,
  type BreakGlassRow,
  type BreakGlassSummary,
} from './break-glass.ts';
import {
  disclosurePage,
  disclosureSummary,
  type DisclosureRow,
  type DisclosureSummary,
} from './disclosures.ts';
import {
  patientAccessPage,
  patientAccessSummary,
  type PatientAccessRow,
  type PatientAccessSummary,
} from './patient-access.ts';
import type { Period } from './period.ts';
import type { EventPosition } from './positions.ts';
import {
  userActivityPatients,
  userActivitySummary,
  type PatientCountPosition,
  type UserActivityPatientRow,
  type UserActivitySummary,
} from './user-activity.ts';

/** What every report carries besides its rows: whose, which range, when it was made. */
export interface ReportHeader {
  readonly organizationId: string;
  readonly period: Period;
  readonly generatedAt: string;
}

/** One page of a report's rows, the position after it, and the report's totals. */
export interface ReportPage<S, R, P> {
  readonly header: ReportHeader;
  readonly summary: S;
  readonly items: R[];
  readonly next: P | null;
}

function header(orgId: string, period: Period): ReportHeader {
  return { organizationId: orgId, period, generatedAt: new Date().toISOString() };
}

/** Refuses a patient that is not the organization's own (another tenant's id looks missing). */
async function requirePatient(q: Queryable, orgId: string, patientId: string): Promise<void> {
  const r = await q.query(
    'select 1 from clinical.patients where organization_id = $1 and id = $2',
    [orgId, patientId],
  );
  if (r.rows.length === 0) throw new WardError('not_found', 'No such patient');
}

/** Refuses a user or agent that is not the organization's own. */
async function requireUser(q: Queryable, orgId: string, userId: string): Promise<void> {
  const r = await q.query('select 1 from ward.users where organization_id = $1 and id = $2', [
    orgId,
    userId,
  ]);
  if (r.rows.length === 0) throw new WardError('not_found', 'No such user');
}

/** Patient access report: every audited access to one patient's record (see patient-access.ts). */
export async function patientAccessReport(
  q: Queryable,
  orgId: string,
  patientId: string,
  period: Period,
  page: { readonly limit: number; readonly after?: EventPosition | undefined },
): Promise<ReportPage<PatientAccessSummary, PatientAccessRow, EventPosition>> {
  await requirePatient(q, orgId, patientId);
  const summary = await patientAccessSummary(q, orgId, patientId, period);
  const { items, next } = await patientAccessPage(q, orgId, patientId, period, page);
  return { header: header(orgId, period), summary, items, next };
}

/** Accounting of disclosures of one patient's PHI (see disclosures.ts). */
export async function disclosureReport(
  q: Queryable,
  orgId: string,
  patientId: string,
  period: Period,
  opts: {
    readonly allPurposes: boolean;
    readonly limit: number;
    readonly after?: EventPosition | undefined;
  },
): Promise<ReportPage<DisclosureSummary, DisclosureRow, EventPosition>> {
  await requirePatient(q, orgId, patientId);
  const summary = await disclosureSummary(q, orgId, patientId, period, opts.allPurposes);
  const { items, next } = await disclosurePage(q, orgId, patientId, period, opts);
  return { header: header(orgId, period), summary, items, next };
}

/** Break-glass sessions and their review (see break-glass.ts). */
export async function breakGlassReport(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  period: Period,
  filters: BreakGlassFilters,
  page: { readonly limit: number; readonly after?: EventPosition | undefined },
): Promise<ReportPage<BreakGlassSummary, BreakGlassRow, EventPosition>> {
  if (filters.userId) await requireUser(q, orgId, filters.userId);
  if (filters.patientId) await requirePatient(q, orgId, filters.patientId);
  const summary = await breakGlassSummary(q, orgId, period, filters);
  const { items, next } = await breakGlassPage(q, codec, orgId, period, filters, page);
  return { header: header(orgId, period), summary, items, next };
}

/** One actor's activity: totals and the patients touched (see user-activity.ts). */
export async function userActivityReport(
  q: Queryable,
  orgId: string,
  actorId: string,
  period: Period,
  page: { readonly limit: number; readonly after?: PatientCountPosition | undefined },
): Promise<ReportPage<UserActivitySummary, UserActivityPatientRow, PatientCountPosition>> {
  await requireUser(q, orgId, actorId);
  const summary = await userActivitySummary(q, orgId, actorId, period);
  const { items, next } = await userActivityPatients(q, orgId, actorId, period, page);
  return { header: header(orgId, period), summary, items, next };
}
