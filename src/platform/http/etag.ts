import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { qualified, type Tx } from '../db/index.ts';
import { WardError } from '../errors.ts';

/**
 * A strong entity tag for one version of a row: an opaque digest of the resource kind, id and
 * version (here `updated_at`, which a trigger bumps on every UPDATE), so clients cannot read
 * timestamps out of it and tags of different resources never collide.
 */
export function etagFor(kind: string, id: string, version: string): string {
  const digest = createHash('sha256').update(`${kind}\n${id}\n${version}`).digest('base64url');
  return `"${digest.slice(0, 27)}"`;
}

/** The entity tags listed in an `If-Match` header; `['*']` for a wildcard; undefined if absent. */
export function parseIfMatch(header: unknown): string[] | undefined {
  if (typeof header !== 'string') return undefined;
  const value = header.trim();
  if (value === '*') return ['*'];
  return value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/**
 * Enforces `If-Match` on an update: missing is 428 `precondition_required`; no listed tag
 * matching the current one (strong comparison, RFC 9110 §13.1.1, so weak tags never match)
 * is 412 `precondition_failed`.
 */
export function requireIfMatch(req: FastifyRequest, current: string): void {
  const tags = parseIfMatch(req.headers['if-match']);
  if (!tags || tags.length === 0) throw new WardError('precondition_required');
  if (tags.includes('*')) return;
  if (!tags.some((t) => !t.startsWith('W/') && t === current)) {
    throw new WardError('precondition_failed');
  }
}

/** A table whose rows carry `id` and `updated_at`, and so can be versioned. */
export interface VersionedTable {
  readonly schema: string;
  readonly table: string;
}

/**
 * Reads a row's version inside the request transaction; `lock` takes the row lock first, so
 * the version checked is the one the update will replace (no lost update between check and
 * write). A row the caller cannot see is `not_found`.
 */
export async function rowVersion(
  tx: Tx,
  t: VersionedTable,
  id: string,
  lock: boolean,
): Promise<string> {
  const r = await tx.query<{ v: string }>(
    `select updated_at::text as v from ${qualified(t.schema, t.table)} where id = $1${lock ? ' for update' : ''}`,
    [id],
  );
  const v = r.rows[0]?.v;
  if (v === undefined) throw new WardError('not_found');
  return v;
}
