import { ident, qualified } from '../../src/platform/db/sql.ts';
import type { Database, RequestContext } from '../../src/platform/db/index.ts';
import { pgCode } from '../../src/platform/errors.ts';

/**
 * How a write probe ended: rows affected, refused by row-level security, refused by missing
 * privileges (which means the probe never reached RLS), or some other error (code, message).
 */
export type ProbeOutcome =
  | { readonly kind: 'rows'; readonly n: number }
  | { readonly kind: 'rls' }
  | { readonly kind: 'privilege'; readonly message: string }
  | { readonly kind: 'error'; readonly code: string; readonly message: string };

/** What ward_app may do on one table, read from the catalog (has_*_privilege). */
export interface WritePrivileges {
  readonly insertable: readonly string[];
  readonly updatable: readonly string[];
  readonly canDelete: boolean;
}

/** Reads ward_app's column-level INSERT/UPDATE and table-level DELETE rights on a table. */
export async function writePrivileges(
  db: Database,
  schema: string,
  table: string,
): Promise<WritePrivileges> {
  const rel = qualified(schema, table);
  return db.asAdmin(async (tx) => {
    const cols = await tx.query<{ name: string; ins: boolean; upd: boolean }>(
      `select a.attname as name,
              has_column_privilege('ward_app', a.attrelid, a.attname, 'INSERT') as ins,
              has_column_privilege('ward_app', a.attrelid, a.attname, 'UPDATE') as upd
         from pg_attribute a
        where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum`,
      [rel],
    );
    const del = await tx.query<{ ok: boolean }>(
      "select has_table_privilege('ward_app', $1::regclass, 'DELETE') as ok",
      [rel],
    );
    return {
      insertable: cols.rows.filter((c) => c.ins).map((c) => c.name),
      updatable: cols.rows.filter((c) => c.upd).map((c) => c.name),
      canDelete: del.rows[0]?.ok ?? false,
    };
  });
}

/** Runs one statement under `ctx` as ward_app, always rolled back, and classifies the result. */
export async function probe(
  db: Database,
  ctx: RequestContext,
  sql: string,
  params: unknown[],
): Promise<ProbeOutcome> {
  const rollback = new Error('rollback probe');
  let outcome: ProbeOutcome = { kind: 'rows', n: 0 };
  try {
    await db.withContext(ctx, async (tx) => {
      try {
        outcome = { kind: 'rows', n: (await tx.query(sql, params)).rowCount };
      } catch (e) {
        outcome = classify(e);
      }
      throw rollback;
    });
  } catch (e) {
    if (e !== rollback) throw e;
  }
  return outcome;
}

/** An RLS refusal is SQLSTATE 42501 with PostgreSQL's row-level security message. */
export function classify(e: unknown): ProbeOutcome {
  const code = pgCode(e) ?? 'none';
  const message = e instanceof Error ? e.message : String(e);
  if (code === '42501' && /row-level security/.test(message)) return { kind: 'rls' };
  if (code === '42501' && /permission denied/.test(message)) return { kind: 'privilege', message };
  return { kind: 'error', code, message };
}

/**
 * Tries to insert a copy of one of `victimOrg`'s rows while acting as `ctx`, naming only the
 * columns ward_app may insert (so a privilege error cannot stand in for RLS).
 */
export async function insertProbe(
  db: Database,
  ctx: RequestContext,
  schema: string,
  table: string,
  victimOrg: string,
  insertable: readonly string[],
): Promise<ProbeOutcome> {
  const rel = qualified(schema, table);
  const sample = await db.asAdmin((tx) =>
    tx.query<{ row: Record<string, unknown> }>(
      `select to_jsonb(s) as row from ${rel} s where organization_id = $1 limit 1`,
      [victimOrg],
    ),
  );
  const row = sample.rows[0]?.row;
  if (!row) throw new Error(`${rel}: no sample row of the victim`);
  const cols = insertable.map((c) => ident(c)).join(', ');
  return probe(
    db,
    ctx,
    `insert into ${rel} (${cols}) select ${cols} from jsonb_populate_record(null::${rel}, $1::jsonb)`,
    [JSON.stringify(row)],
  );
}

/** Renders an outcome for assertion messages. */
export function show(o: ProbeOutcome): string {
  switch (o.kind) {
    case 'rows':
      return `${String(o.n)} rows affected`;
    case 'rls':
      return 'refused by RLS';
    case 'privilege':
      return `privilege error (${o.message})`;
    case 'error':
      return `error ${o.code} (${o.message})`;
  }
}
