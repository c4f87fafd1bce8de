/**
 * The only quoting functions in Ward. Identifiers (schema, table and column names that come
 * from the catalog or from code, never from users) pass `ident`; the request-context prelude,
 * which must be one simple-protocol round trip, passes its already-validated values through
 * `literal`. Everything else is a bound parameter.
 */

/** Quotes an SQL identifier, doubling embedded quotes. Rejects NUL. */
export function ident(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('invalid SQL identifier');
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a possibly schema-qualified name: `qualified('ward','users')` → `"ward"."users"`. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/**
 * Quotes a string literal for a standard_conforming_strings session (the default since
 * PostgreSQL 9.1): single quotes are doubled and backslashes have no special meaning.
 */
export function literal(value: string): string {
  if (value.includes('\0')) throw new Error('invalid SQL literal');
  return `'${value.replaceAll("'", "''")}'`;
}
