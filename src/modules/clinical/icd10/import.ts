import type { Database, Queryable } from '../../../platform/db/index.ts';
import { WardError } from '../../../platform/errors.ts';
import type { Icd10Entry } from './parse.ts';

/** Release names as the schema accepts them (clinical.icd10_codes.version). */
export const icd10VersionPattern = /^[0-9A-Za-z._-]{1,32}$/;

/** What an import did (or, on a dry run, would do). */
export interface Icd10ImportResult {
  readonly version: string;
  readonly total: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly billable: number;
  readonly headers: number;
  readonly dryRun: boolean;
}

const chunk = 2000;

/**
 * Upserts one chunk of a release and returns how many rows were inserted and updated
 * (unchanged rows are not touched, so a re-import of the same file writes nothing).
 */
async function upsertChunk(
  q: Queryable,
  version: string,
  entries: readonly Icd10Entry[],
): Promise<{ inserted: number; updated: number }> {
  const r = await q.query<{ inserted: boolean }>(
    `insert into clinical.icd10_codes (version, code, description, billable)
     select $1, u.code, u.description, u.billable
       from unnest($2::text[], $3::text[], $4::boolean[]) as u(code, description, billable)
     on conflict (version, code) do update
        set description = excluded.description, billable = excluded.billable
      where (clinical.icd10_codes.description, clinical.icd10_codes.billable)
            is distinct from (excluded.description, excluded.billable)
     returning (xmax = 0) as inserted`,
    [
      version,
      entries.map((e) => e.code),
      entries.map((e) => e.description),
      entries.map((e) => e.billable),
    ],
  );
  const inserted = r.rows.filter((x) => x.inserted).length;
  return { inserted, updated: r.rows.length - inserted };
}

class DryRunRollback extends Error {
  constructor(readonly result: Icd10ImportResult) {
    super('dry run');
  }
}

/**
 * Imports a parsed ICD-10-CM release into `clinical.icd10_codes` in one transaction, as the
 * schema owner: the code set is reference data, written by operators (like migrations) and
 * only read by requests. Re-importing a release is an idempotent upsert. A dry run performs
 * the same writes and rolls them back, so its counts are exact.
 */
export async function importIcd10Release(
  db: Database,
  version: string,
  entries: readonly Icd10Entry[],
  opts: { readonly dryRun?: boolean; readonly onProgress?: (done: number) => void } = {},
): Promise<Icd10ImportResult> {
  if (!icd10VersionPattern.test(version))
    throw new WardError(
      'validation_failed',
      'The version must be 1 to 32 letters, digits, dots, dashes or underscores (e.g. 2026)',
    );
  const billable = entries.filter((e) => e.billable).length;
  try {
    return await db.asAdmin(async (tx) => {
      await tx.exec('SET LOCAL ROLE ward_owner');
      let inserted = 0;
      let updated = 0;
      for (let i = 0; i < entries.length; i += chunk) {
        const c = await upsertChunk(tx, version, entries.slice(i, i + chunk));
        inserted += c.inserted;
        updated += c.updated;
        opts.onProgress?.(Math.min(entries.length, i + chunk));
      }
      const result: Icd10ImportResult = {
        version,
        total: entries.length,
        inserted,
        updated,
        unchanged: entries.length - inserted - updated,
        billable,
        headers: entries.length - billable,
        dryRun: opts.dryRun === true,
      };
      if (opts.dryRun) throw new DryRunRollback(result);
      return result;
    });
  } catch (e) {
    if (e instanceof DryRunRollback) return e.result;
    throw e;
  }
}
