import type { Queryable } from '../../platform/db/index.ts';
import { disclosureEventType } from '../audit/disclosure.ts';
import type { Period } from './period.ts';
import { afterPosition, occurredAtText, type EventPosition } from './positions.ts';

/**
 * Purposes whose disclosures an accounting leaves out (45 CFR 164.528(a)(1)): treatment,
 * payment and health care operations (i), and disclosures to the individual (ii). Everything
 * else — research, public health, legal, oversight and compliance (164.512(d)), marketing,
 * codes Ward does not know, and disclosures that carried no purpose — is listed: when in doubt
 * the accounting says more, not less.
 */
export const unaccountedPurposes: readonly string[] = [
  'TREAT',
  'ETREAT',
  'CAREMGT',
  'HPAYMT',
  'COVAUTH',
  'COVERAGE',
  'HOPERAT',
  'HSYSADMIN',
  'TRAIN',
  'PATRQT',
];

/** One disclosure of a patient's PHI to another organization. */
export interface DisclosureRow {
  eventId: number;
  occurredAt: string;
  /** Who received it: the grantee organization, and its name when recorded. */
  recipientOrganizationId: string | null;
  recipientOrganizationName: string | null;
  /** The recipient's user or agent who read it (an id in the recipient's organization). */
  recipientActorType: string;
  recipientActorId: string | null;
  purposeOfUse: string | null;
  /** The PHI disclosed, as field names (never values). */
  phiFields: string[];
  entityType: string | null;
  entityId: string | null;
  requestId: string | null;
}

/** What a period's accounting lists, and what it leaves out and why. */
export interface DisclosureSummary {
  /** Disclosures listed (all of them with `allPurposes`). */
  listed: number;
  /** Disclosures left out as treatment, payment, operations or to the patient, by purpose. */
  omittedByPurpose: Record<string, number>;
  recipients: number;
}

const rowColumns = `e.id as "eventId", ${occurredAtText} as "occurredAt",
  e.metadata ->> 'granteeOrganizationId' as "recipientOrganizationId",
  e.metadata ->> 'granteeOrganizationName' as "recipientOrganizationName",
  e.actor_type as "recipientActorType", e.actor_id as "recipientActorId",
  e.purpose_of_use as "purposeOfUse", e.phi_fields as "phiFields",
  e.entity_type as "entityType", e.entity_id as "entityId", e.request_id as "requestId"`;

// $5: the purposes left out (an empty array lists everything).
const scope = `e.organization_id = $1 and e.patient_id = $2 and e.event_type = '${disclosureEventType}'
     and e.occurred_at >= $3::timestamptz and e.occurred_at < $4::timestamptz`;
const listed = `coalesce(e.purpose_of_use, '') <> all ($5::text[])`;

const pageSql = `
  select ${rowColumns} from audit.events e
   where ${scope} and ${listed} and ${afterPosition(6)}
   order by e.occurred_at, e.id
   limit $8`;

const summarySql = `
  select count(*) filter (where ${listed})::int as listed,
         count(distinct e.metadata ->> 'granteeOrganizationId') filter (where ${listed})::int as recipients,
         coalesce((select jsonb_object_agg(p, n) from (
             select e.purpose_of_use as p, count(*)::int as n from audit.events e
              where ${scope} and not (${listed}) group by 1) g), '{}'::jsonb) as "omittedByPurpose"
    from audit.events e
   where ${scope}`;

/**
 * The accounting of disclosures of one patient's PHI (45 CFR 164.528): each read of the record
 * by another organization through a grant in `period` (six years by default), oldest first,
 * with the date, the recipient, the PHI disclosed and the purpose. Disclosures for treatment,
 * payment, operations and to the patient are left out and counted, unless `allPurposes`.
 */
export async function disclosurePage(
  q: Queryable,
  orgId: string,
  patientId: string,
  period: Period,
  opts: {
    readonly allPurposes: boolean;
    readonly limit: number;
    readonly after?: EventPosition | undefined;
  },
): Promise<{ items: DisclosureRow[]; next: EventPosition | null }> {
  const r = await q.query<DisclosureRow>(pageSql, [
    orgId,
    patientId,
    period.from,
    period.to,
    opts.allPurposes ? [] : unaccountedPurposes,
    opts.after?.t ?? null,
    opts.after?.id ?? null,
    opts.limit + 1,
  ]);
  const items = r.rows.slice(0, opts.limit);
  const last = items.at(-1);
  return {
    items,
    next:
      r.rows.length > opts.limit && last ? { t: last.occurredAt, id: String(last.eventId) } : null,
  };
}

/** The totals of `disclosurePage` over the whole period, with what was left out. */
export async function disclosureSummary(
  q: Queryable,
  orgId: string,
  patientId: string,
  period: Period,
  allPurposes: boolean,
): Promise<DisclosureSummary> {
  const r = await q.query<DisclosureSummary>(summarySql, [
    orgId,
    patientId,
    period.from,
    period.to,
    allPurposes ? [] : unaccountedPurposes,
  ]);
  return r.rows[0] as DisclosureSummary;
}
