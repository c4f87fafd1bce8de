import { parseCopyLine, type Queryable, type Tx } from '../../platform/db/index.ts';
import { CopyLeafHasher, isCanonicalUuid, type LeafDigest } from './leaf-copy.ts';
import {
  eventLeafHash,
  eventRowColumns,
  eventRowCopyColumns,
  eventRowCopyColumnsWithoutOrg,
  eventRowFromCopy,
  type EventRow,
} from './leaf.ts';

/** One organization's events in a transaction range, in id order, as COPY reads them. */
const rangeCopySql = `select ${eventRowCopyColumns} from audit.events e
  where e.organization_id = $1::uuid and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8
  order by e.id`;

/**
 * The same events in whatever order the server finds them. With ORDER BY the server sorts a
 * batch's formatted rows before sending the first one, and the reader sits idle meanwhile;
 * without it rows stream as soon as they are read, and the reader orders the digests itself.
 * The organization is left out when the reader can put it back (`CopyLeafHasher`).
 */
const digestCopySql = (
  withOrg: boolean,
) => `select ${withOrg ? eventRowCopyColumns : eventRowCopyColumnsWithoutOrg}
  from audit.events e
  where e.organization_id = $1::uuid and e.tx_id >= $2::xid8 and e.tx_id < $3::xid8`;
const digestCopyWithOrg = digestCopySql(true);
const digestCopyWithoutOrg = digestCopySql(false);

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
    await q.copyRows(rangeCopySql, [orgId, txFrom, txTo], (line) =>
      rows.push(eventRowFromCopy(parseCopyLine(line))),
    );
    return rows;
  }
  return eventsInRangeByQuery(q, orgId, txFrom, txTo);
}

/**
 * The leaf digests (id, month, leaf hash) of the same events as `eventsInRange`, in id order:
 * on PostgreSQL hashed straight from COPY's bytes (`CopyLeafHasher`) as they stream in unsorted
 * and ordered here (the order on disk is nearly id order, which the sort handles in linear
 * time), on PGlite from the rows.
 */
export async function leafDigestsInRange(
  q: Queryable & Pick<Tx, 'copyRows'>,
  orgId: string,
  txFrom: string,
  txTo: string,
): Promise<LeafDigest[]> {
  if (!q.copyRows) {
    const rows = await eventsInRangeByQuery(q, orgId, txFrom, txTo);
    return rows.map((r) => ({ id: r.id, month: r.month, hash: eventLeafHash(r) }));
  }
  const digests: LeafDigest[] = [];
  // An id given in another spelling (upper case) still selects the rows, but only the
  // server's own rendering gives the sealed leaf; such a read keeps the column.
  const known = isCanonicalUuid(orgId);
  const hasher = new CopyLeafHasher(known ? orgId : undefined);
  await q.copyRows(
    known ? digestCopyWithoutOrg : digestCopyWithOrg,
    [orgId, txFrom, txTo],
    (line) => digests.push(hasher.digest(line)),
  );
  return digests.sort((a, b) => a.id - b.id);
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
