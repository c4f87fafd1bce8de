import type { Queryable } from '../../platform/db/index.ts';
import { disclosureEventType } from '../audit/disclosure.ts';
import { namesPatient } from '../audit/events-query.ts';
import type { Period } from './period.ts';
import { afterPosition, occurredAtText, utcText, type EventPosition } from './positions.ts';

/** One access to a patient's record, as a privacy officer reads it. */
export interface PatientAccessRow {
  eventId: number;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  /** The actor's name and e-mail when it is a user of the organization itself. */
  actorName: string | null;
  actorEmail: string | null;
  onBehalfOf: string | null;
  /** For a disclosure through a grant: the organization that received the data. */
  recipientOrganizationId: string | null;
  recipientOrganizationName: string | null;
  action: string;
  eventType: string;
  entityType: string | null;
  entityId: string | null;
  phiFields: string[];
  purposeOfUse: string | null;
  outcome: string;
  outcomeReason: string | null;
  ip: string | null;
  requestId: string | null;
}

/** Totals over the whole period, whatever page is shown. */
export interface PatientAccessSummary {
  events: number;
  reads: number;
  writes: number;
  /** Attempts that were refused or failed (outcome other than success). */
  refused: number;
  /** Reads by other organizations through a grant (accounting of disclosures). */
  disclosures: number;
  /** People, agents and jobs that appear in the period. */
  distinctActors: number;
  firstAt: string | null;
  lastAt: string | null;
  /** Events by purpose of use (`none` when the event carried none). */
  byPurpose: Record<string, number>;
}

const rowColumns = `e.id as "eventId", ${occurredAtText} as "occurredAt",
  e.actor_type as "actorType", e.actor_id as "actorId", u.display_name as "actorName",
  u.email as "actorEmail", e.on_behalf_of as "onBehalfOf",
  case when e.event_type = '${disclosureEventType}' then e.metadata ->> 'granteeOrganizationId' end
    as "recipientOrganizationId",
  case when e.event_type = '${disclosureEventType}' then e.metadata ->> 'granteeOrganizationName' end
    as "recipientOrganizationName",
  e.action, e.event_type as "eventType", e.entity_type as "entityType", e.entity_id as "entityId",
  e.phi_fields as "phiFields", e.purpose_of_use as "purposeOfUse", e.outcome,
  e.outcome_reason as "outcomeReason", host(e.ip) as ip, e.request_id as "requestId"`;

// The actor is joined within the event's own organization (composite key): a grantee's user
// who read through a grant is named by the recipient organization, never looked up elsewhere.
const pageSql = `
  select ${rowColumns}
    from audit.events e
    left join ward.users u on u.organization_id = e.organization_id and u.id = e.actor_id
   where e.organization_id = $1 and ${namesPatient(2, '$1')}
     and e.occurred_at >= $3::timestamptz and e.occurred_at < $4::timestamptz
     and ${afterPosition(5)}
   order by e.occurred_at, e.id
   limit $7`;

const summarySql = `
  select count(*)::int as events,
         count(*) filter (where e.action = 'R')::int as reads,
         count(*) filter (where e.action in ('C', 'U', 'D'))::int as writes,
         count(*) filter (where e.outcome <> '0')::int as refused,
         count(*) filter (where e.event_type = '${disclosureEventType}')::int as disclosures,
         count(distinct coalesce(e.actor_id::text, e.actor_type))::int as "distinctActors",
         ${utcText('min(e.occurred_at)')} as "firstAt",
         ${utcText('max(e.occurred_at)')} as "lastAt",
         coalesce((select jsonb_object_agg(p, n) from (
             select coalesce(e.purpose_of_use, 'none') as p, count(*)::int as n
               from audit.events e
              where e.organization_id = $1 and ${namesPatient(2, '$1')}
                and e.occurred_at >= $3::timestamptz and e.occurred_at < $4::timestamptz
              group by 1) g), '{}'::jsonb) as "byPurpose"
    from audit.events e
   where e.organization_id = $1 and ${namesPatient(2, '$1')}
     and e.occurred_at >= $3::timestamptz and e.occurred_at < $4::timestamptz`;

/**
 * Every recorded access to one patient's record in `period`, oldest first: reads, writes,
 * refused attempts and disclosures to other organizations, with who, which fields, for what
 * purpose and with what outcome (the access report a patient may ask for, HITECH 13405(c)).
 * `orgId` scopes the query explicitly, so it is the same under RLS and for a system job.
 */
export async function patientAccessPage(
  q: Queryable,
  orgId: string,
  patientId: string,
  period: Period,
  page: { readonly limit: number; readonly after?: EventPosition | undefined },
): Promise<{ items: PatientAccessRow[]; next: EventPosition | null }> {
  const r = await q.query<PatientAccessRow>(pageSql, [
    orgId,
    patientId,
    period.from,
    period.to,
    page.after?.t ?? null,
    page.after?.id ?? null,
    page.limit + 1,
  ]);
  const items = r.rows.slice(0, page.limit);
  const last = items.at(-1);
  return {
    items,
    next:
      r.rows.length > page.limit && last ? { t: last.occurredAt, id: String(last.eventId) } : null,
  };
}

/** The totals of `patientAccessPage` over the whole period. */
export async function patientAccessSummary(
  q: Queryable,
  orgId: string,
  patientId: string,
  period: Period,
): Promise<PatientAccessSummary> {
  const r = await q.query<PatientAccessSummary>(summarySql, [
    orgId,
    patientId,
    period.from,
    period.to,
  ]);
  return r.rows[0] as PatientAccessSummary;
}
