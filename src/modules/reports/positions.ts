import { WardError } from '../../platform/errors.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/pagination.ts';

/**
 * A keyset position in a report ordered by time: the last row's time (as printed) and its id
 * (an event id, or a session's UUID).
 */
export interface EventPosition {
  /** ISO 8601 in UTC with microseconds, exactly as `utcText` printed it. */
  readonly t: string;
  readonly id: string;
}

/** SQL printing a timestamptz expression as ISO 8601 UTC with microseconds (no precision lost). */
export function utcText(expr: string): string {
  return `to_char((${expr}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** `utcText` of an event's time. */
export const occurredAtText = utcText('e.occurred_at');

/**
 * The keyset condition for reports ordered `occurred_at, id` ascending: `$n` is the position's
 * time (null on the first page) and `$n+1` its id.
 */
export function afterPosition(n: number): string {
  return `($${n}::timestamptz is null or (e.occurred_at, e.id) > ($${n}::timestamptz, $${n + 1}::bigint))`;
}

const timePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Encodes a position as a signed, encrypted cursor of one report (`scope`). */
export function positionCursor(scope: string, p: EventPosition | null): string | null {
  return p === null ? null : encodeCursor(scope, [p.t, p.id]);
}

/** Ids a position may hold: an event's bigint, or a UUID. */
const idPatterns = {
  event: /^\d{1,19}$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
} as const;

/**
 * Decodes a cursor made by `positionCursor` for the same report; a cursor of another list or
 * one that was altered is `invalid_cursor`, and its values are checked again before SQL.
 */
export function cursorPosition(
  scope: string,
  cursor: string | undefined,
  id: keyof typeof idPatterns = 'event',
): EventPosition | undefined {
  const key = decodeCursor(scope, cursor, 2);
  if (key === undefined) return undefined;
  const [t, rowId] = key;
  if (t === undefined || rowId === undefined || !timePattern.test(t) || !idPatterns[id].test(rowId))
    throw new WardError('invalid_cursor');
  return { t, id: rowId };
}
