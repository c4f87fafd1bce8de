import type { FastifyRequest } from 'fastify';
import type { Tx } from '../db/index.ts';
import { WardError } from '../errors.ts';

/** How long a key is remembered. A retry after this creates again. */
export const idempotencyTtlHours = 24;

const keyPattern = /^[A-Za-z0-9._:~-]{1,128}$/;

/** The `Idempotency-Key` header, if sent; a malformed one is a 400. */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !keyPattern.test(raw)) {
    throw new WardError(
      'validation_failed',
      'Idempotency-Key must be 1 to 128 characters of A-Z a-z 0-9 . _ : ~ -',
    );
  }
  return raw;
}

/**
 * A keyed hash of a request's canonical text under its organization's key (the crypto
 * module's `FieldCodec.requestHash`), run in the request transaction.
 */
export type RequestHasher = (tx: Tx, orgId: string, text: string) => Promise<Buffer>;

/**
 * What the request asks for, as the text whose keyed hash is stored with its key: the parsed
 * body (JSON.stringify keeps the client's key order) and, on a route with path parameters,
 * those too — the stored route is the template (`/cases/:id/images`), so without them a key
 * used on one case would replay on another. The text is never stored; the hash is keyed
 * because a body may hold PHI with few possible values (an SSN), which a plain digest would
 * give away to anyone who can read the table and try them all.
 */
export function requestText(body: unknown, params?: Record<string, unknown>): string {
  const target = params && Object.keys(params).length > 0 ? { params, body: body ?? null } : null;
  return JSON.stringify(target ?? body ?? null);
}

/** What a key already stands for. */
export interface Claimed {
  readonly kind: 'new';
}
/** The first request's outcome, to replay. */
export interface Replay {
  readonly kind: 'replay';
  readonly status: number;
  readonly resourceId: string;
}

/**
 * Claims `key` for this principal inside the request transaction. The insert takes the unique
 * index entry first, so a concurrent request with the same key waits for this transaction and
 * then sees its committed outcome — a create can never run twice. Returns `new` when this
 * request must do the work, or the first request's outcome; a different route or body is 422.
 */
export async function claimKey(
  tx: Tx,
  ids: { orgId: string; principalId: string },
  key: string,
  route: string,
  hash: Buffer,
  status: number,
): Promise<Claimed | Replay> {
  await tx.query(
    `delete from ward.idempotency_keys
      where principal_id = $1 and idempotency_key = $2 and expires_at <= now()`,
    [ids.principalId, key],
  );
  const inserted = await tx.query(
    `insert into ward.idempotency_keys
       (organization_id, principal_id, idempotency_key, route, request_hash, status_code, expires_at)
     values ($1, $2, $3, $4, $5, $6, now() + make_interval(hours => $7))
     on conflict do nothing`,
    [ids.orgId, ids.principalId, key, route, hash, status, idempotencyTtlHours],
  );
  if (inserted.rowCount === 1) return { kind: 'new' };
  const r = await tx.query<{
    route: string;
    request_hash: Buffer;
    status_code: number;
    resource_id: string | null;
  }>(
    `select route, request_hash, status_code, resource_id from ward.idempotency_keys
      where principal_id = $1 and idempotency_key = $2`,
    [ids.principalId, key],
  );
  const row = r.rows[0];
  if (!row) throw new WardError('idempotency_key_in_use');
  if (row.route !== route || !Buffer.from(row.request_hash).equals(hash)) {
    throw new WardError('idempotency_key_reused');
  }
  if (!row.resource_id) throw new WardError('idempotency_key_in_use');
  return { kind: 'replay', status: row.status_code, resourceId: row.resource_id };
}

/** Records the created resource's id against the claimed key (same transaction as the create). */
export async function completeKey(
  tx: Tx,
  principalId: string,
  key: string,
  resourceId: string,
): Promise<void> {
  await tx.query(
    'update ward.idempotency_keys set resource_id = $3 where principal_id = $1 and idempotency_key = $2',
    [principalId, key, resourceId],
  );
}

/** Deletes expired keys across tenants (a background job, through `asSystem`). */
export async function purgeExpiredKeys(tx: Tx): Promise<number> {
  const r = await tx.query('delete from ward.idempotency_keys where expires_at <= now()');
  return r.rowCount;
}
