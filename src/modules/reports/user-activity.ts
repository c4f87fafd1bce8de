import type { Queryable } from '../../platform/db/index.ts';
import type { Period } from './period.ts';
import { utcText } from './positions.ts';

/** What one user or agent did in a period, in totals. */
export interface UserActivitySummary {
  events: number;
  reads: number;
  writes: number;
  refused: number;
  /** Distinct patients whose records the actor touched or tried to, or that a list showed it. */
  patients: number;
  firstAt: string | null;
  lastAt: string | null;
  byPurpose: Record<string, number>;
  byEventType: Record<string, number>;
}

/** The actor's events about one patient in the period. */
export interface UserActivityPatientRow {
  patientId: string;
  events: number;
  reads: number;
  writes: number;
  refused: number;
  purposes: string[];
  firstAt: string;
  lastAt: string;
}

/** A keyset position in the per-patient rows: events (descending), then patient id. */
export interface PatientCountPosition {
  readonly events: number;
  readonly patientId: string;
}

const scope = `e.organization_id = $1 and e.actor_id = $2
     and e.occurred_at >= $3::timestamptz and e.occurred_at < $4::timestamptz`;

const countsBy = (column: string) => `coalesce((select jsonb_object_agg(k, n) from (
      select coalesce(${column}, 'none') as k, count(*)::int as n from audit.events e
       where ${scope} group by 1) g), '{}'::jsonb)`;

// Each event with every patient it names: its subject, and the patients a list or search
// disclosed (metadata.patientIds). A page of fifty patients is a look at each of them.
const touched = `cross join lateral (
      select e.patient_id as patient_id where e.patient_id is not null
      union
      select x::uuid from jsonb_array_elements_text(
               case when jsonb_typeof(e.metadata -> 'patientIds') = 'array'
                    then e.metadata -> 'patientIds' end) x
       where x ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') t`;

const summarySql = `
  select count(*)::int as events,
         count(*) filter (where e.action = 'R')::int as reads,
         count(*) filter (where e.action in ('C', 'U', 'D'))::int as writes,
         count(*) filter (where e.outcome <> '0')::int as refused,
         (select count(distinct t.patient_id)::int from audit.events e ${touched} where ${scope})
           as patients,
         ${utcText('min(e.occurred_at)')} as "firstAt", ${utcText('max(e.occurred_at)')} as "lastAt",
         ${countsBy('e.purpose_of_use')} as "byPurpose",
         ${countsBy('e.event_type')} as "byEventType"
    from audit.events e
   where ${scope}`;

const patientsSql = `
  select t.patient_id as "patientId", count(*)::int as events,
         count(*) filter (where e.action = 'R')::int as reads,
         count(*) filter (where e.action in ('C', 'U', 'D'))::int as writes,
         count(*) filter (where e.outcome <> '0')::int as refused,
         array_remove(array_agg(distinct e.purpose_of_use order by e.purpose_of_use), null) as purposes,
         ${utcText('min(e.occurred_at)')} as "firstAt", ${utcText('max(e.occurred_at)')} as "lastAt"
    from audit.events e ${touched}
   where ${scope}
   group by t.patient_id
  having $5::int is null or count(*) < $5::int or (count(*) = $5::int and t.patient_id > $6::uuid)
   order by count(*) desc, t.patient_id
   limit $7`;

/**
 * The totals of one actor's (a user's or an agent's) audited activity in `period` — what an
 * investigation of a workforce member starts from (45 CFR 164.308(a)(1)(ii)(D)).
 */
export async function userActivitySummary(
  q: Queryable,
  orgId: string,
  actorId: string,
  period: Period,
): Promise<UserActivitySummary> {
  const r = await q.query<UserActivitySummary>(summarySql, [
    orgId,
    actorId,
    period.from,
    period.to,
  ]);
  return r.rows[0] as UserActivitySummary;
}

/**
 * The patients an actor touched in `period` — as an event's subject or among those a list or
 * search disclosed — most events first, each with its counts.
 */
export async function userActivityPatients(
  q: Queryable,
  orgId: string,
  actorId: string,
  period: Period,
  page: { readonly limit: number; readonly after?: PatientCountPosition | undefined },
): Promise<{ items: UserActivityPatientRow[]; next: PatientCountPosition | null }> {
  const r = await q.query<UserActivityPatientRow>(patientsSql, [
    orgId,
    actorId,
    period.from,
    period.to,
    page.after?.events ?? null,
    page.after?.patientId ?? null,
    page.limit + 1,
  ]);
  const items = r.rows.slice(0, page.limit);
  const last = items.at(-1);
  return {
    items,
    next:
      r.rows.length > page.limit && last
        ? { events: last.events, patientId: last.patientId }
        : null,
  };
}
