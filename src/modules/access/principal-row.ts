import type { ParsedToken } from '../auth/tokens.ts';
import { readSettings, type Principal } from './principal.ts';
import type { PurposeCode } from './purposes.ts';

/** Why authentication failed (for the audit trail; the client sees a plain 401). */
export interface AuthFailure {
  readonly failure: string;
  readonly userId?: string | undefined;
}

/**
 * Turns the row of ward.authenticate_session / ward.authenticate_api_key into a principal,
 * or a failure. The row comes from the request's own transaction.
 */
export function principalFromRow(
  row: Readonly<Record<string, unknown>> | undefined,
  token: ParsedToken,
  purpose: PurposeCode | undefined,
): { principal: Principal } | AuthFailure {
  if (!row) return { failure: token.kind === 'api_key' ? 'unknown_key' : 'unknown_session' };
  const failure = row['failure'];
  const userId = typeof row['user_id'] === 'string' ? row['user_id'] : undefined;
  if (typeof failure === 'string') return { failure, userId };
  if (!userId) return { failure: 'unknown_session' };
  const isKey = token.kind === 'api_key';
  return {
    principal: {
      orgId: token.orgId,
      userId,
      actorType: isKey ? 'agent' : 'user',
      principalType: row['principal_type'] as Principal['principalType'],
      sessionId: isKey ? undefined : token.id,
      apiKeyId: isKey ? token.id : undefined,
      roles: (row['roles'] as string[] | null) ?? [],
      permissions: new Set((row['permissions'] as string[] | null) ?? []),
      mfaVerified: row['mfa_verified'] === true,
      restricted: row['restricted'] === 'mfa_enrollment' ? 'mfa_enrollment' : null,
      breakGlass: breakGlassOf(row['break_glass']),
      policyVersion: Number(row['policy_version'] ?? 0),
      settings: readSettings(row['settings']),
      purpose,
    },
  };
}

/** Reads the `break_glass` object (patient id → end of its emergency session). */
function breakGlassOf(raw: unknown): ReadonlyMap<string, Date> {
  const out = new Map<string, Date>();
  if (typeof raw !== 'object' || raw === null) return out;
  for (const [patientId, until] of Object.entries(raw as Record<string, unknown>)) {
    const t = typeof until === 'string' ? new Date(until) : undefined;
    if (t && !Number.isNaN(t.getTime())) out.set(patientId.toLowerCase(), t);
  }
  return out;
}
