import type { PreludeStatement } from '../../platform/db/index.ts';
import type { ParsedToken } from '../auth/tokens.ts';

/**
 * The two statements a secured request can open with, after its context: a full
 * authentication, or the confirmation of a principal the server already knows. See
 * docs/decisions/2026-12-02-confirm-known-principals.md and
 * docs/decisions/2026-12-03-confirm-in-one-statement.md.
 *
 * Both texts are fixed, so each is parsed and planned once per connection; every value is a
 * bound parameter.
 */

/**
 * The organization's `auth_version`, read next to the authentication in the same statement.
 * The function's own queries take newer snapshots than the statement that calls it, so this
 * value is never newer than the roles and permissions the function returned: a change that
 * commits in between leaves the cached row with an older version than the database, and its
 * next confirmation fails safe (a full authentication), never the reverse.
 */
const authVersion =
  '(SELECT o.auth_version FROM ward.organizations o WHERE o.id = ward.current_org_id()) AS auth_version';

const authenticateSession = `SELECT a.*, ${authVersion} FROM ward.authenticate_session($1::uuid, $2::bytea) a`;

/** Scopes as of the statement's snapshot, for the same reason as the version. */
const authenticateApiKey =
  `SELECT a.*, ${authVersion}, ` +
  '(SELECT k.scopes FROM ward.api_keys k WHERE k.organization_id = ward.current_org_id() AND k.id = $1::uuid) AS scopes ' +
  'FROM ward.authenticate_api_key($1::uuid, $2::bytea) a';

/**
 * Every condition of ward.authenticate_session on the session's row and its organization's,
 * and equality with everything the cached row was derived from that can change: the session's
 * MFA state and restriction, and the organization's `auth_version` (bumped by triggers on any
 * change to roles, role permissions, user roles, break-glass, a user's status or principal
 * type, the organization's settings or status) and `policy_version`. The user and session come
 * from the transaction's context, which the server set from the cached row, so a wrong one
 * fails here too. A user's deletion deletes the session (foreign key with cascade).
 *
 * The idle window slides exactly as in the full authentication (written at most every 30 s),
 * by the data-modifying CTE; it reads the same snapshot as the check, and a failed check
 * aborts the transaction, taking the write with it. When nothing matches, the CASE takes its
 * only procedural branch, ward.refuse_principal, which raises SQLSTATE WA401: the transaction
 * is aborted before any statement queued behind this one runs.
 */
const confirmSession =
  'WITH seen AS (UPDATE ward.sessions x SET last_seen_at = now() ' +
  'WHERE x.organization_id = ward.current_org_id() AND x.id = $1::uuid AND x.token_hash = $2::bytea ' +
  "AND x.last_seen_at < now() - interval '30 seconds' RETURNING 1) " +
  'SELECT CASE WHEN EXISTS (SELECT 1 FROM ward.sessions s JOIN ward.organizations o ON o.id = s.organization_id ' +
  'WHERE s.organization_id = ward.current_org_id() AND s.id = $1::uuid AND s.token_hash = $2::bytea ' +
  'AND s.id = ward.current_session_id() AND s.user_id = ward.current_user_id() ' +
  'AND s.mfa_verified = $3::boolean AND s.restricted IS NOT DISTINCT FROM $4::text ' +
  'AND s.revoked_at IS NULL AND s.expires_at > now() ' +
  "AND s.last_seen_at + make_interval(mins => coalesce((o.settings ->> 'sessionIdleMinutes')::integer, 15)) > now() " +
  "AND o.status = 'active' AND o.auth_version = $5::bigint AND o.policy_version = $6::bigint) " +
  "THEN true ELSE ward.refuse_principal('session') END AS confirmed";

/** The same for an API key: its scopes instead of MFA, `last_used_at` every 60 s. */
const confirmApiKey =
  'WITH used AS (UPDATE ward.api_keys x SET last_used_at = now() ' +
  'WHERE x.organization_id = ward.current_org_id() AND x.id = $1::uuid AND x.token_hash = $2::bytea ' +
  "AND (x.last_used_at IS NULL OR x.last_used_at < now() - interval '60 seconds') RETURNING 1) " +
  'SELECT CASE WHEN EXISTS (SELECT 1 FROM ward.api_keys k JOIN ward.organizations o ON o.id = k.organization_id ' +
  'WHERE k.organization_id = ward.current_org_id() AND k.id = $1::uuid AND k.token_hash = $2::bytea ' +
  'AND k.principal_id = ward.current_user_id() AND k.scopes = $3::text[] ' +
  'AND k.revoked_at IS NULL AND k.expires_at > now() ' +
  "AND o.status = 'active' AND o.auth_version = $4::bigint AND o.policy_version = $5::bigint) " +
  "THEN true ELSE ward.refuse_principal('API key') END AS confirmed";

/** The full authentication of `token`, whose row also carries what a confirmation compares. */
export function authenticationStatement(token: ParsedToken): PreludeStatement {
  return {
    text: token.kind === 'api_key' ? authenticateApiKey : authenticateSession,
    values: [token.id, token.hash],
  };
}

/** What a confirmation compares, taken from a successful authentication's row. */
export interface ConfirmationBasis {
  readonly userId: string;
  readonly values: readonly unknown[];
}

/**
 * The values a confirmation of `token` needs from its authentication `row`, or undefined when
 * the row is not a success or lacks one of them (then nothing is cached).
 */
export function confirmationBasis(
  token: ParsedToken,
  row: Readonly<Record<string, unknown>>,
): ConfirmationBasis | undefined {
  const userId = row['user_id'];
  const authVersionValue = row['auth_version'];
  const policyVersion = row['policy_version'];
  if (row['failure'] != null || typeof userId !== 'string') return undefined;
  if (!isVersion(authVersionValue) || !isVersion(policyVersion)) return undefined;
  if (token.kind === 'api_key') {
    const scopes = row['scopes'];
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) return undefined;
    return {
      userId,
      values: [token.id, token.hash, scopes, String(authVersionValue), String(policyVersion)],
    };
  }
  const mfa = row['mfa_verified'];
  const restricted = row['restricted'];
  if (typeof mfa !== 'boolean' || (restricted !== null && typeof restricted !== 'string'))
    return undefined;
  return {
    userId,
    values: [
      token.id,
      token.hash,
      mfa,
      restricted,
      String(authVersionValue),
      String(policyVersion),
    ],
  };
}

/** The confirmation of a cached principal; the context must carry `basis.userId` (and the session). */
export function confirmationStatement(
  token: ParsedToken,
  basis: ConfirmationBasis,
): PreludeStatement {
  return { text: token.kind === 'api_key' ? confirmApiKey : confirmSession, values: basis.values };
}

/** bigint columns arrive as decimal strings. */
function isVersion(v: unknown): v is string | number {
  return (typeof v === 'string' && /^[0-9]{1,19}$/.test(v)) || Number.isSafeInteger(v);
}
