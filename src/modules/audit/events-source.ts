import type { Queryable } from '../../platform/db/index.ts';
import { eventRowColumns, type EventRow } from './leaf.ts';

/** The events of one organization with txFrom <= tx_id < txTo, in leaf order (by id). */
export async function eventsInRange(
  q: Queryable,
  orgId: string,
  txFrom: string,
  txTo: string,
): Promise<EventRow[]> {
  const r = await q.query<EventRow>(
    `select ${eventRowColumns} from audit.events e
      where e.organization_id = $1 and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8
      order by e.id`,
    [orgId, txFrom, txTo],
  );
  return r.rows;
}

/** Whether the organization has events in [txFrom, txTo). */
export async function hasEventsInRange(
  q: Queryable,
  orgId: string,
  txFrom: string,
  txTo: string,
): Promise<boolean> {
  const r = await q.query<{ has: boolean }>(
    `select exists(select 1 from audit.events e where e.organization_id = $1
                     and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8) as has`,
    [orgId, txFrom, txTo],
  );
  return r.rows[0]?.has === true;
}

/**
 * The transaction id of the event `limit` places past txFrom (in tx order), if there are
 * that many below txTo: the sealer's cut that keeps a batch near `limit` events without ever
 * splitting one transaction's events.
 */
export async function txCut(
  q: Queryable,
  orgId: string,
  txFrom: string,
  txTo: string,
  limit: number,
): Promise<string | undefined> {
  const r = await q.query<{ tx: string }>(
    `select e.tx_id::text as tx from audit.events e
      where e.organization_id = $1 and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8
      order by e.tx_id offset $4 limit 1`,
    [orgId, txFrom, txTo, limit],
  );
  return r.rows[0]?.tx;
}

/** Number of events at or above the chain's sealed horizon (not yet in any checkpoint). */
export async function countUnsealed(q: Queryable, orgId: string, txFrom: string): Promise<number> {
  const r = await q.query<{ n: number }>(
    `select count(*)::int as n from audit.events e where e.organization_id = $1 and e.tx_id >= $2::xid8`,
    [orgId, txFrom],
  );
  return r.rows[0]?.n ?? 0;
}
