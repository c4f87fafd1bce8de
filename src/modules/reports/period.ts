import { WardError } from '../../platform/errors.ts';

/** A report's time range: `from` inclusive, `to` exclusive, both ISO 8601 in UTC. */
export interface Period {
  readonly from: string;
  readonly to: string;
}

/** The longest range a report may cover: the HIPAA retention period and a margin. */
export const maxReportYears = 10;

/**
 * Resolves a report's range from optional bounds: `to` defaults to now, `from` to
 * `defaultYears` before `to` (six for an accounting of disclosures, HIPAA 164.528(a); three for
 * an access report). Refuses unparseable dates, an inverted range, and one longer than
 * `maxReportYears`, naming the bound and never echoing the value.
 * @example reportPeriod({ from: '2026-01-01' }, 3) // { from: '2026-01-01T00:00:00.000Z', to: <now> }
 */
export function reportPeriod(
  bounds: { readonly from?: string | undefined; readonly to?: string | undefined },
  defaultYears: number,
  now: Date = new Date(),
): Period {
  const to = bounds.to === undefined ? now : parseBound(bounds.to, 'to');
  const from =
    bounds.from === undefined ? yearsBefore(to, defaultYears) : parseBound(bounds.from, 'from');
  if (from.getTime() > to.getTime())
    throw new WardError('validation_failed', 'from must not be later than to');
  if (from.getTime() < yearsBefore(to, maxReportYears).getTime())
    throw new WardError('validation_failed', `a report covers at most ${maxReportYears} years`);
  return { from: from.toISOString(), to: to.toISOString() };
}

// An ISO 8601 date or date-time (a bare date is midnight UTC). Anything Date.parse would
// guess at (free text, locale formats) is refused.
const isoBound = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseBound(text: string, name: 'from' | 'to'): Date {
  const t = isoBound.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t))
    throw new WardError('validation_failed', `${name} must be an ISO 8601 date or date-time`);
  return new Date(t);
}

function yearsBefore(d: Date, years: number): Date {
  const out = new Date(d.getTime());
  out.setUTCFullYear(out.getUTCFullYear() - years);
  return out;
}
