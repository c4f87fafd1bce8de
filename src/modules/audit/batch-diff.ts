import { eventLeafHash, type EventRow } from './leaf.ts';

/** How a sealed batch differs from what its checkpoint recorded. */
export interface BatchDifference {
  readonly kind: 'modified' | 'deleted' | 'inserted' | 'reordered';
  /** The first event (in id order) where the batch departs from its checkpoint. */
  readonly eventId: number;
  readonly detail: string;
}

/**
 * Compares the rows now in a batch with the ids and leaf hashes its checkpoint recorded and
 * names the first difference in id order: an id that disappeared (deleted), appeared
 * (inserted), or whose content changed (modified) — or whose content is another recorded
 * event's (reordered, e.g. ids swapped).
 */
export function diffBatch(
  expectedIds: readonly number[],
  expectedHashes: readonly Buffer[],
  rows: readonly EventRow[],
): BatchDifference | undefined {
  if (rows.length === expectedIds.length && rows.every((r, i) => sameLeaf(r, i))) return undefined;
  function sameLeaf(r: EventRow, i: number): boolean {
    const h = expectedHashes[i];
    return r.id === expectedIds[i] && h !== undefined && eventLeafHash(r).equals(h);
  }
  const expected = new Map<number, Buffer>();
  expectedIds.forEach((id, i) => expected.set(id, expectedHashes[i] as Buffer));
  const actual = new Map<number, { row: EventRow; hash: Buffer }>();
  for (const row of rows) actual.set(row.id, { row, hash: eventLeafHash(row) });
  const ids = [...new Set([...expectedIds, ...rows.map((r) => r.id)])].sort((a, b) => a - b);
  const mismatched = ids.filter((id) => {
    const e = expected.get(id);
    const a = actual.get(id);
    return !e || !a || !e.equals(a.hash);
  });
  for (const id of mismatched) {
    const e = expected.get(id);
    const a = actual.get(id);
    if (!a) return { kind: 'deleted', eventId: id, detail: `event ${id} was sealed but is gone` };
    if (!e) {
      return { kind: 'inserted', eventId: id, detail: `event ${id} is not in the sealed batch` };
    }
    // Is this row's content another sealed event's, moved to this id?
    for (const other of mismatched.slice(0, 1000)) {
      const h = other === id ? undefined : expected.get(other);
      if (h && eventLeafHash(a.row, other).equals(h)) {
        return {
          kind: 'reordered',
          eventId: id,
          detail: `event ${id} holds the content sealed as event ${other}`,
        };
      }
    }
    return {
      kind: 'modified',
      eventId: id,
      detail: `event ${id} no longer matches its sealed hash`,
    };
  }
  return undefined;
}
