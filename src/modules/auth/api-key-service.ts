import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import {
  decodeCursor,
  newestFirstAfter,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';
import { record } from '../audit/record.ts';
import type { Principal } from '../access/principal.ts';
import type { AuthDeps } from './deps.ts';
import { requireFreshCode } from './mfa-service.ts';
import { mintToken } from './tokens.ts';

/** An API key as listed (never its secret). */
export interface ApiKeyView {
  readonly id: string;
  readonly principalId: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly expiresAt: string;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly createdAt: string;
}

const maxLifetimeDays = 366;

/**
 * Creates an API key for a service account or agent. Scopes must be permissions the
 * principal's roles hold today (a key can narrow, never widen); every key expires. The token
 * is returned once. Creating one is a sensitive action: MFA step-up applies.
 */
export async function createApiKey(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  input: {
    principalId: string;
    name: string;
    scopes: readonly string[];
    expiresAt: string;
    totpCode?: string | undefined;
  },
): Promise<{ apiKey: string; key: ApiKeyView }> {
  await requireFreshCode(tx, d, p, input.totpCode);
  const expires = new Date(input.expiresAt);
  const now = Date.now();
  if (
    Number.isNaN(expires.getTime()) ||
    expires.getTime() <= now ||
    expires.getTime() > now + maxLifetimeDays * 86_400_000
  ) {
    throw new WardError(
      'validation_failed',
      `expiresAt must be in the future and within ${maxLifetimeDays} days`,
    );
  }
  const target = await tx.query<{ principal_type: string; permissions: string[] }>(
    `select u.principal_type,
            array(select distinct rp.permission_id from ward.user_roles ur join ward.role_permissions rp
                    on rp.organization_id = ur.organization_id and rp.role_id = ur.role_id
                   where ur.organization_id = u.organization_id and ur.user_id = u.id) as permissions
       from ward.users u where u.id = $1`,
    [input.principalId],
  );
  const t = target.rows[0];
  if (!t) throw new WardError('not_found', 'The principal does not exist');
  if (t.principal_type === 'human')
    throw new WardError(
      'validation_failed',
      'API keys are for service accounts and agents, not people',
    );
  const held = new Set(t.permissions);
  const beyond = input.scopes.filter((s) => !held.has(s));
  if (beyond.length > 0)
    throw new WardError(
      'validation_failed',
      `The principal's roles do not hold: ${beyond.join(', ')}`,
    );
  const minted = mintToken('api_key', p.orgId, randomUUID());
  const r = await tx.query<KeyRow>(
    `insert into ward.api_keys (organization_id, id, principal_id, name, token_hash, scopes, expires_at, created_by)
     values ($1, $2, $3, $4, $5, $6::text[], $7, $8) returning ${keyColumns}`,
    [
      p.orgId,
      minted.id,
      input.principalId,
      input.name.trim(),
      minted.hash,
      [...new Set(input.scopes)],
      expires,
      p.userId,
    ],
  );
  const key = toView(r.rows[0] as KeyRow);
  await record(tx, {
    action: 'C',
    eventType: 'auth.api_key.create',
    entityType: 'ApiKey',
    entityId: key.id,
    metadata: { principalId: key.principalId, scopes: key.scopes },
  });
  return { apiKey: minted.token, key };
}

/** Lists the organization's API keys, newest first, a page at a time. */
export async function listApiKeys(tx: Tx, q: PageQuery = {}): Promise<Page<ApiKeyView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('api-keys', q.cursor, 2);
  const r = await tx.query<KeyRow & { sort_at: string }>(
    `select ${keyColumns}, created_at::text as sort_at from ward.api_keys
      where ${newestFirstAfter(1)} order by created_at desc, id desc limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  return toPage(r.rows, limit, 'api-keys', (x) => [x.sort_at, x.id], toView);
}

/** Revokes a key at once. */
export async function revokeApiKey(tx: Tx, id: string): Promise<void> {
  const r = await tx.query(
    'update ward.api_keys set revoked_at = now() where id = $1 and revoked_at is null',
    [id],
  );
  if (r.rowCount === 0) throw new WardError('not_found');
  await record(tx, {
    action: 'E',
    eventType: 'auth.api_key.revoke',
    entityType: 'ApiKey',
    entityId: id,
  });
}

interface KeyRow {
  id: string;
  principal_id: string;
  name: string;
  scopes: string[];
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
}
const keyColumns =
  'id, principal_id, name, scopes, expires_at, revoked_at, last_used_at, created_at';

function toView(r: KeyRow): ApiKeyView {
  return {
    id: r.id,
    principalId: r.principal_id,
    name: r.name,
    scopes: r.scopes,
    expiresAt: r.expires_at.toISOString(),
    revokedAt: r.revoked_at?.toISOString() ?? null,
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
  };
}
