import type { Queryable, Tx } from '../../platform/db/index.ts';
import { eventRowColumns, eventRowCopyColumns, eventRowFromCopy, type EventRow } from './leaf.ts';

/**
 * The events of one organization with txFrom <= tx_id < txTo, in leaf order (by id). On
 * PostgreSQL they are streamed through COPY (see `Tx.copyRows`), which the sealer and verifier
 * read several times faster than row messages; the embedded engine runs the plain query. Both
 * give the same text for every column (tested on both engines).
 */
export async function eventsInRange(
  q: Queryable & Pick<Tx, 'copyRows'>,
  orgId: string,
  txFrom: string,
  txTo: string,
): Promise<EventRow[]> {
  if (q.copyRows) {
    const rows: EventRow[] = [];
    await q.copyRows(
      `select ${eventRowCopyColumns} from audit.events e
        where e.organization_id = $1::uuid and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8
        order by e.id`,
      [orgId, txFrom, txTo],
      (f) => rows.push(eventRowFromCopy(f)),
    );
    return rows;
  }
  return eventsInRangeByQuery(q, orgId, txFrom, txTo);
}

/** `eventsInRange` through an ordinary query, on either engine. */
export async function eventsInRangeByQuery(
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

/**
 * The first transaction id with events in [txFrom, txTo) and the transaction id of the event
 * `limit` places past txFrom (in tx order), if there are that many: what the sealer needs to
 * plan a batch, in one round trip.
 */
export async function batchBounds(
  q: Queryable,
  orgId: string,
  txFrom: string,
  txTo: string,
  limit: number,
): Promise<{ first: string | null; cut: string | null }> {
  const r = await q.query<{ first: string | null; cut: string | null }>(
    `select (select min(e.tx_id)::text from audit.events e
              where e.organization_id = $1 and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8) as first,
            (select e.tx_id::text from audit.events e
              where e.organization_id = $1 and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8
              order by e.tx_id offset $4 limit 1) as cut`,
    [orgId, txFrom, txTo, limit],
  );
  return r.rows[0] ?? { first: null, cut: null };
}

/** Number of events at or above the chain's sealed horizon (not yet in any checkpoint). */
export async function countUnsealed(q: Queryable, orgId: string, txFrom: string): Promise<number> {
  const r = await q.query<{ n: number }>(
    `select count(*)::int as n from audit.events e where e.organization_id = $1 and e.tx_id >= $2::xid8`,
    [orgId, txFrom],
  );
  return r.rows[0]?.n ?? 0;
}
