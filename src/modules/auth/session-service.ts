import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import type { OrganizationSettings, Principal } from '../access/principal.ts';
import { nowMs, type AuthDeps, type ClientInfo } from './deps.ts';
import {
  findSession,
  insertSession,
  listSessions,
  revokeSession,
  revokeUserSessions,
  type SessionView,
} from './sessions-repo.ts';
import { mintToken } from './tokens.ts';

/** A new session as the client receives it: the token is shown once and never stored. */
export interface IssuedSession {
  readonly accessToken: string;
  readonly expiresAt: string;
  readonly sessionId: string;
  readonly mfaEnrollmentRequired: boolean;
}

/** Opens a session in the caller's (tenant) transaction. */
export async function openSession(
  tx: Tx,
  d: AuthDeps,
  s: {
    orgId: string;
    userId: string;
    client: ClientInfo;
    mfaVerified: boolean;
    restricted: 'mfa_enrollment' | null;
    authMethod: 'password' | 'password+totp' | 'password+recovery' | 'refresh';
    settings: OrganizationSettings;
    expiresAt?: Date;
  },
): Promise<IssuedSession> {
  const minted = mintToken('session', s.orgId, randomUUID());
  const expiresAt = await insertSession(tx, {
    orgId: s.orgId,
    id: minted.id,
    userId: s.userId,
    tokenHash: minted.hash,
    ip: s.client.ip,
    userAgent: s.client.userAgent,
    mfaVerified: s.mfaVerified,
    restricted: s.restricted,
    authMethod: s.authMethod,
    expiresAt: s.expiresAt ?? new Date(nowMs(d) + s.settings.sessionAbsoluteMinutes * 60_000),
  });
  return {
    accessToken: minted.token,
    expiresAt: expiresAt.toISOString(),
    sessionId: minted.id,
    mfaEnrollmentRequired: s.restricted === 'mfa_enrollment',
  };
}

/**
 * Rotates the caller's session token. The new session inherits the old one's MFA state and
 * absolute expiry, so refreshing can neither skip MFA nor extend a session past its limit.
 * A token refreshes once: of two refreshes racing with one token, the second waits for the
 * first's revocation of the old session and then finds nothing left to revoke, and is refused.
 */
export async function refreshSession(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  client: ClientInfo,
): Promise<IssuedSession> {
  if (!p.sessionId) throw new WardError('forbidden', 'Only sessions can be refreshed');
  const current = await findSession(tx, p.sessionId);
  if (!current) throw new WardError('unauthenticated');
  if (!(await revokeSession(tx, p.sessionId, 'rotated'))) throw new WardError('unauthenticated');
  const issued = await openSession(tx, d, {
    orgId: p.orgId,
    userId: p.userId,
    client,
    mfaVerified: current.mfaVerified,
    restricted: current.restricted === 'mfa_enrollment' ? 'mfa_enrollment' : null,
    authMethod: 'refresh',
    settings: p.settings,
    expiresAt: new Date(current.expiresAt),
  });
  await record(tx, {
    action: 'E',
    eventType: 'auth.refresh',
    entityType: 'Session',
    entityId: issued.sessionId,
    metadata: { previousSession: p.sessionId },
    ip: client.ip,
    userAgent: client.userAgent,
  });
  return issued;
}

/** Ends the caller's own session. */
export async function logout(tx: Tx, p: Principal): Promise<void> {
  if (!p.sessionId) throw new WardError('forbidden', 'API keys have no session to end');
  await revokeSession(tx, p.sessionId, 'logout');
  await record(tx, {
    action: 'E',
    eventType: 'auth.logout',
    entityType: 'Session',
    entityId: p.sessionId,
  });
}

/** Lists a user's live sessions. */
export function sessionsOf(tx: Tx, userId: string): Promise<SessionView[]> {
  return listSessions(tx, userId);
}

/** Revokes one session of the organization; a user may revoke only their own. */
export async function revokeOne(
  tx: Tx,
  p: Principal,
  sessionId: string,
  asAdmin: boolean,
): Promise<void> {
  const s = await findSession(tx, sessionId);
  if (!s || s.revokedAt || (!asAdmin && s.userId !== p.userId)) throw new WardError('not_found');
  await revokeSession(
    tx,
    sessionId,
    asAdmin && s.userId !== p.userId ? 'revoked_by_admin' : 'revoked_by_user',
  );
  await record(tx, {
    action: 'E',
    eventType: 'auth.session.revoke',
    entityType: 'Session',
    entityId: sessionId,
    metadata: { userId: s.userId },
  });
}

/** Revokes all of a user's sessions (disable, password change, admin action). */
export async function revokeAllFor(
  tx: Tx,
  userId: string,
  reason: string,
  keep?: string,
): Promise<number> {
  const n = await revokeUserSessions(tx, userId, reason, keep);
  await record(tx, {
    action: 'E',
    eventType: 'auth.session.revoke_all',
    entityType: 'User',
    entityId: userId,
    metadata: { reason, count: n },
  });
  return n;
}
