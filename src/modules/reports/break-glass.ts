import type { Queryable } from '../../platform/db/index.ts';
import { breakGlassReasonColumn } from '../access/encrypted-columns.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { openFields } from '../crypto/open-fields.ts';
import type { Period } from './period.ts';
import { utcText, type EventPosition } from './positions.ts';

/** One emergency (break-glass) session and what became of it. */
export interface BreakGlassRow {
  sessionId: string;
  userId: string;
  userName: string | null;
  userEmail: string | null;
  patientId: string | null;
  reason: string;
  startedAt: string;
  expiresAt: string;
  endedAt: string | null;
  /** Successful ETREAT accesses by the user while the session ran (its own start excluded). */
  accesses: number;
  /** ETREAT attempts refused or failed while it ran. */
  refused: number;
  /** Distinct patients those accesses touched (the session opens one). */
  patientsTouched: number;
  reviewTaskId: string | null;
  reviewStatus: string | null;
  reviewResolution: string | null;
  reviewedBy: string | null;
  reviewedAt: string | null;
  alertId: string | null;
  alertStatus: string | null;
  alertResolution: string | null;
}

/** Filters of the break-glass report. */
export interface BreakGlassFilters {
  readonly userId?: string | undefined;
  readonly patientId?: string | undefined;
  /** Only sessions whose review task is still open. */
  readonly unreviewed?: boolean | undefined;
}

// ETREAT events by the session's user in the session's window, in its organization; the
// window ends when the session was ended early, else when it expired (least() skips a null).
const during = (outcome: string) => `
  from audit.events e
 where e.organization_id = b.organization_id and e.actor_id = b.user_id
   and e.purpose_of_use = 'ETREAT' and e.event_type not like 'access.break_glass.%'
   and e.occurred_at >= b.started_at and e.occurred_at < least(b.ended_at, b.expires_at)
   and ${outcome}`;

const pageSql = `
  select b.id as "sessionId", b.user_id as "userId", u.display_name as "userName",
         u.email as "userEmail", b.patient_id as "patientId", b.organization_id,
         b.reason_encrypted, b.reason,
         ${utcText('b.started_at')} as "startedAt", ${utcText('b.expires_at')} as "expiresAt",
         ${utcText('b.ended_at')} as "endedAt",
         (select count(*)::int ${during("e.outcome = '0'")}) as accesses,
         (select count(*)::int ${during("e.outcome <> '0'")}) as refused,
         (select count(distinct e.patient_id)::int ${during("e.outcome = '0'")}) as "patientsTouched",
         t.id as "reviewTaskId", t.status as "reviewStatus", t.resolution as "reviewResolution",
         t.closed_by as "reviewedBy", ${utcText('t.closed_at')} as "reviewedAt",
         a.id as "alertId", a.status as "alertStatus", a.resolution as "alertResolution"
    from ward.break_glass_sessions b
    left join ward.users u on u.organization_id = b.organization_id and u.id = b.user_id
    left join ward.review_tasks t on t.organization_id = b.organization_id
         and t.kind = 'break_glass_review' and t.subject_id = b.id
    left join ward.security_alerts a on a.organization_id = b.organization_id
         and a.kind = 'access.break_glass' and a.details ->> 'breakGlassId' = b.id::text
   where b.organization_id = $1
     and b.started_at >= $2::timestamptz and b.started_at < $3::timestamptz
     and ($4::uuid is null or b.user_id = $4::uuid)
     and ($5::uuid is null or b.patient_id = $5::uuid)
     and (not $6::boolean or t.status = 'open')
     and ($7::timestamptz is null or (b.started_at, b.id) > ($7::timestamptz, $8::uuid))
   order by b.started_at, b.id
   limit $9`;

const stored = new Set(['organization_id', 'reason_encrypted', 'reason']);

/** Totals of the break-glass report over the whole period and filters. */
export interface BreakGlassSummary {
  sessions: number;
  /** Sessions whose review task is not closed. */
  unreviewed: number;
  users: number;
  patients: number;
}

const summarySql = `
  select count(*)::int as sessions,
         count(*) filter (where t.status is distinct from 'closed')::int as unreviewed,
         count(distinct b.user_id)::int as users,
         count(distinct b.patient_id)::int as patients
    from ward.break_glass_sessions b
    left join ward.review_tasks t on t.organization_id = b.organization_id
         and t.kind = 'break_glass_review' and t.subject_id = b.id
   where b.organization_id = $1
     and b.started_at >= $2::timestamptz and b.started_at < $3::timestamptz
     and ($4::uuid is null or b.user_id = $4::uuid)
     and ($5::uuid is null or b.patient_id = $5::uuid)
     and (not $6::boolean or t.status = 'open')`;

/** The totals of `breakGlassPage` over the whole period. */
export async function breakGlassSummary(
  q: Queryable,
  orgId: string,
  period: Period,
  filters: BreakGlassFilters,
): Promise<BreakGlassSummary> {
  const r = await q.query<BreakGlassSummary>(summarySql, [
    orgId,
    period.from,
    period.to,
    filters.userId ?? null,
    filters.patientId ?? null,
    filters.unreviewed === true,
  ]);
  return r.rows[0] as BreakGlassSummary;
}

/**
 * Break-glass sessions started in `period`, oldest first: who, which patient, why, how long,
 * what was read under them (and refused), and the state of their review task and alert — what
 * a privacy officer reviews (45 CFR 164.312(a)(2)(ii), 164.308(a)(1)(ii)(D)). The reason is
 * stored encrypted (migration 0022) and decrypted for the rows returned.
 */
export async function breakGlassPage(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  period: Period,
  filters: BreakGlassFilters,
  page: { readonly limit: number; readonly after?: EventPosition | undefined },
): Promise<{ items: BreakGlassRow[]; next: EventPosition | null }> {
  type Stored = Omit<BreakGlassRow, 'reason'> & {
    organization_id: string;
    reason_encrypted: Buffer | null;
    reason: string | null;
  };
  const r = await q.query<Stored>(pageSql, [
    orgId,
    period.from,
    period.to,
    filters.userId ?? null,
    filters.patientId ?? null,
    filters.unreviewed === true,
    page.after?.t ?? null,
    page.after?.id ?? null,
    page.limit + 1,
  ]);
  const items: BreakGlassRow[] = [];
  for (const row of r.rows.slice(0, page.limit)) {
    const text = await openFields(
      codec,
      q,
      { orgId: row.organization_id, table: 'ward.break_glass_sessions', rowId: row.sessionId },
      row,
      { reason: breakGlassReasonColumn },
    );
    // The stored forms stay here; the row carries the reason as text.
    const shown = Object.entries(row).filter(([k]) => !stored.has(k));
    items.push({
      ...(Object.fromEntries(shown) as Omit<BreakGlassRow, 'reason'>),
      reason: text.reason ?? '',
    });
  }
  const last = items.at(-1);
  return {
    items,
    next: r.rows.length > page.limit && last ? { t: last.startedAt, id: last.sessionId } : null,
  };
}
