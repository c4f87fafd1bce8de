import type { Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/pagination.ts';

/** Filters auditors search by; all optional, combined with AND. */
export interface EventFilters {
  /** Only for system-wide exports; requests are already scoped by RLS. */
  readonly orgId?: string | undefined;
  readonly patientId?: string | undefined;
  readonly actorId?: string | undefined;
  readonly entityType?: string | undefined;
  readonly entityId?: string | undefined;
  readonly action?: string | undefined;
  readonly outcome?: string | undefined;
  /** Inclusive lower bound, ISO 8601. */
  readonly from?: string | undefined;
  /** Exclusive upper bound, ISO 8601. */
  readonly to?: string | undefined;
}

/** One event as the API and exports present it. */
export interface AuditEventView {
  id: number;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  onBehalfOf: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  action: string;
  eventType: string;
  entityType: string | null;
  entityId: string | null;
  patientId: string | null;
  phiFields: string[];
  purposeOfUse: string | null;
  outcome: string;
  outcomeReason: string | null;
  requestId: string | null;
  metadata: Record<string, unknown>;
}

/** A page of events, newest first, and the cursor of the next page. */
export interface EventPage {
  readonly items: AuditEventView[];
  readonly nextCursor: string | null;
}

const viewColumns = `e.id, to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "occurredAt",
  e.actor_type as "actorType", e.actor_id as "actorId", e.on_behalf_of as "onBehalfOf",
  e.session_id as "sessionId", host(e.ip) as ip, e.user_agent as "userAgent", e.action,
  e.event_type as "eventType", e.entity_type as "entityType", e.entity_id as "entityId",
  e.patient_id as "patientId", e.phi_fields as "phiFields", e.purpose_of_use as "purposeOfUse",
  e.outcome, e.outcome_reason as "outcomeReason", e.request_id as "requestId", e.metadata`;

/**
 * SQL true when event `e` names the patient in parameter `$n`: as its subject (`patient_id`), or
 * among the patients a list or search disclosed (`metadata.patientIds`, which a trigger copies
 * into audit.event_patients, migration 0020). A patient's access history needs both: a page of
 * fifty patients is a disclosure of each of them. Both arms are uuid equality on B-tree
 * indexes, which PostgreSQL can use under RLS (jsonb containment it could not). `org` is the
 * SQL of the organization whose events are searched (a parameter, or the request context's).
 */
export function namesPatient(n: number, org: string): string {
  // `= any(array(…))` rather than `in (…)`: the ids become one array, so each partition is
  // a BitmapOr of its patient index and its primary key instead of a scan with a subplan.
  return `(e.patient_id = $${n}::uuid or e.id = any(array(
    select p.event_id from audit.event_patients p
     where p.organization_id = ${org} and p.patient_id = $${n}::uuid)))`;
}

/** Builds the WHERE clause for `filters`, starting parameters at `$first`. */
function whereClause(filters: EventFilters, first: number): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const add = (cond: string, value: unknown) => {
    params.push(value);
    parts.push(cond.replace('?', `$${first + params.length - 1}`));
  };
  if (filters.orgId) add('e.organization_id = ?::uuid', filters.orgId);
  if (filters.patientId) {
    params.push(filters.patientId);
    // The organization filter, when given, is always the first parameter (added above).
    const org = filters.orgId ? `$${first}::uuid` : '(select ward.current_org_id())';
    parts.push(namesPatient(first + params.length - 1, org));
  }
  if (filters.actorId) add('e.actor_id = ?::uuid', filters.actorId);
  if (filters.entityType) add('e.entity_type = ?', filters.entityType);
  if (filters.entityId) add('e.entity_id = ?', filters.entityId);
  if (filters.action) add('e.action = ?', filters.action);
  if (filters.outcome) add('e.outcome = ?', filters.outcome);
  if (filters.from) add('e.occurred_at >= ?::timestamptz', filters.from);
  if (filters.to) add('e.occurred_at < ?::timestamptz', filters.to);
  return { sql: parts.length ? parts.join(' and ') : 'true', params };
}

// The list's cursor scope; the cursor is the last row's (occurred_at, id), signed.
const cursorScope = 'audit-events';
const occurredAtPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** The keyset position in a cursor from `listEvents`; anything else is invalid_cursor. */
function positionOf(cursor: string): { t: string; id: string } {
  const [t, id] = decodeCursor(cursorScope, cursor, 2) ?? [];
  // Signed, so these hold: checked anyway, so a bad value can never become a SQL error.
  if (t === undefined || id === undefined || !occurredAtPattern.test(t) || !/^\d{1,19}$/.test(id)) {
    throw new WardError('invalid_cursor');
  }
  return { t, id };
}

/**
 * One page of the caller's events (RLS limits it to the caller's organization), newest
 * first, keyset-paginated on (occurred_at, id) so deep pages cost the same as the first.
 */
export async function listEvents(
  q: Queryable,
  filters: EventFilters,
  page: { limit: number; cursor?: string | undefined },
): Promise<EventPage> {
  const w = whereClause(filters, 1);
  const params = [...w.params];
  let after = '';
  if (page.cursor) {
    const c = positionOf(page.cursor);
    params.push(c.t, c.id);
    after = ` and (e.occurred_at, e.id) < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`;
  }
  params.push(page.limit + 1);
  const r = await q.query<AuditEventView>(
    `select ${viewColumns} from audit.events e where ${w.sql}${after}
      order by e.occurred_at desc, e.id desc limit $${params.length}`,
    params,
  );
  const items = r.rows.slice(0, page.limit);
  const last = items.at(-1);
  const nextCursor =
    r.rows.length > page.limit && last
      ? encodeCursor(cursorScope, [last.occurredAt, String(last.id)])
      : null;
  return { items, nextCursor };
}

/**
 * Streams events in id order in chunks (exports); `onChunk` gets each chunk as it arrives.
 * @returns the number of events read
 */
export async function scanEvents(
  q: Queryable,
  filters: EventFilters,
  onChunk: (rows: AuditEventView[]) => Promise<void> | void,
  chunk = 5_000,
): Promise<number> {
  const w = whereClause(filters, 2);
  let lastId = -1;
  let total = 0;
  for (;;) {
    const r = await q.query<AuditEventView>(
      `select ${viewColumns} from audit.events e where e.id > $1 and ${w.sql}
        order by e.id limit ${String(chunk)}`,
      [lastId, ...w.params],
    );
    if (r.rows.length === 0) return total;
    total += r.rows.length;
    await onChunk(r.rows);
    lastId = (r.rows.at(-1) as AuditEventView).id;
  }
}

/** Counts events matching `filters` (for export progress). */
export async function countEvents(q: Queryable, filters: EventFilters): Promise<number> {
  const w = whereClause(filters, 1);
  const r = await q.query<{ n: number }>(
    `select count(*)::bigint as n from audit.events e where ${w.sql}`,
    w.params,
  );
  return r.rows[0]?.n ?? 0;
}
