import type { Queryable } from './types.ts';

/** Schemas Ward owns; everything the catalog helpers report is inside these. */
export const wardSchemaFilter = `n.nspname not in ('pg_catalog', 'information_schema', 'ward_meta', 'public')
   and n.nspname not like 'pg\\_%'`;

/** A table or partitioned table with its columns and keys, for diagrams and lints. */
export interface TableInfo {
  readonly schema: string;
  readonly name: string;
  readonly partitioned: boolean;
  readonly isPartition: boolean;
  readonly rlsEnabled: boolean;
  readonly rlsForced: boolean;
  readonly policyCount: number;
  readonly comment: string | null;
  readonly columns: readonly { name: string; type: string; notNull: boolean }[];
  readonly primaryKey: readonly string[];
  readonly foreignKeys: readonly {
    columns: string[];
    refSchema: string;
    refTable: string;
    refColumns: string[];
  }[];
}

/** Reads every Ward table from the live catalog. */
export async function listTables(q: Queryable): Promise<TableInfo[]> {
  const tables = await q.query<{
    oid: number;
    schema: string;
    name: string;
    relkind: string;
    relispartition: boolean;
    relrowsecurity: boolean;
    relforcerowsecurity: boolean;
    policies: number;
    comment: string | null;
  }>(`
    select c.oid::int as oid, n.nspname as schema, c.relname as name, c.relkind::text as relkind,
           c.relispartition, c.relrowsecurity, c.relforcerowsecurity,
           (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies,
           obj_description(c.oid, 'pg_class') as comment
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and ${wardSchemaFilter}
     order by n.nspname, c.relname`);
  const cols = await q.query<{ oid: number; name: string; type: string; notnull: boolean }>(`
    select a.attrelid::int as oid, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
           a.attnotnull as notnull
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p') and ${wardSchemaFilter}
     order by a.attrelid, a.attnum`);
  const cons = await q.query<{
    oid: number;
    contype: string;
    cols: string[];
    ref_schema: string | null;
    ref_table: string | null;
    ref_cols: string[] | null;
  }>(`
    select k.conrelid::int as oid, k.contype::text as contype,
           array(select a.attname::text from unnest(k.conkey) with ordinality u(n, i)
                   join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i) as cols,
           rn.nspname as ref_schema, rc.relname as ref_table,
           case when k.contype = 'f' then
             array(select a.attname::text from unnest(k.confkey) with ordinality u(n, i)
                     join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n order by u.i)
           end as ref_cols
      from pg_constraint k
      join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
      left join pg_class rc on rc.oid = k.confrelid left join pg_namespace rn on rn.oid = rc.relnamespace
     where k.contype in ('p', 'f') and ${wardSchemaFilter} and k.conparentid = 0
     order by k.conname`);
  return tables.rows.map((t) => ({
    schema: t.schema,
    name: t.name,
    partitioned: t.relkind === 'p',
    isPartition: t.relispartition,
    rlsEnabled: t.relrowsecurity,
    rlsForced: t.relforcerowsecurity,
    policyCount: t.policies,
    comment: t.comment,
    columns: cols.rows
      .filter((c) => c.oid === t.oid)
      .map((c) => ({ name: c.name, type: c.type, notNull: c.notnull })),
    primaryKey: cons.rows.find((k) => k.oid === t.oid && k.contype === 'p')?.cols ?? [],
    foreignKeys: cons.rows
      .filter((k) => k.oid === t.oid && k.contype === 'f')
      .map((k) => ({
        columns: k.cols,
        refSchema: k.ref_schema ?? '',
        refTable: k.ref_table ?? '',
        refColumns: k.ref_cols ?? [],
      })),
  }));
}

/**
 * A canonical text dump of the schema objects Ward creates: tables, columns, constraints,
 * indexes, policies, triggers, functions, types and grants. Two databases with the same
 * dump have the same schema; the migrate → rollback → migrate test compares these.
 */
export async function schemaFingerprint(q: Queryable): Promise<string[]> {
  const parts = await Promise.all([
    q.query<{ l: string }>(`
      select format('table %s.%s kind=%s rls=%s force=%s acl=%s', n.nspname, c.relname, c.relkind,
                    c.relrowsecurity, c.relforcerowsecurity, coalesce(c.relacl::text, '')) as l
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p', 'v', 'm', 'S') and ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('column %s.%s.%s %s notnull=%s default=%s acl=%s', n.nspname, c.relname, a.attname,
                    format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(a.attacl::text, '')) as l
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
       where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'v', 'm') and ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('constraint %s.%s %s %s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)) as l
        from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
       where ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('index %s', pg_get_indexdef(i.indexrelid)) as l
        from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
       where ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('policy %s.%s %s %s roles=%s using=%s check=%s', n.nspname, c.relname, p.polname, p.polcmd,
                    p.polroles::regrole[]::text, coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                    coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')) as l
        from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
       where ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('trigger %s.%s %s', n.nspname, c.relname, pg_get_triggerdef(t.oid)) as l
        from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
       where not t.tgisinternal and ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('function %s acl=%s', pg_get_functiondef(p.oid), coalesce(p.proacl::text, '')) as l
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where p.prokind in ('f', 'p') and ${wardSchemaFilter}`),
    q.query<{ l: string }>(`
      select format('type %s.%s %s', n.nspname, t.typname,
                    array(select e.enumlabel from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder)::text) as l
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
       where t.typtype in ('e', 'd', 'c') and ${wardSchemaFilter}
         and not exists (select 1 from pg_class c where c.reltype = t.oid)`),
    q.query<{ l: string }>(`
      select format('schema %s owner=%s acl=%s', n.nspname, pg_get_userbyid(n.nspowner), coalesce(n.nspacl::text, '')) as l
        from pg_namespace n where ${wardSchemaFilter}`),
  ]);
  return parts.flatMap((p) => p.rows.map((r) => r.l)).sort();
}
