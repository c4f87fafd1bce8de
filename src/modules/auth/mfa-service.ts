import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import { mfaRequiredFor, type Principal } from '../access/principal.ts';
import { credentialFailure } from './credential-failure.ts';
import { nowMs, type AuthDeps } from './deps.ts';
import {
  deleteMfa,
  findTotpFactor,
  insertTotpFactor,
  remainingRecoveryCodes,
  useTotpStep,
} from './mfa-repo.ts';
import { refuseWhileLocked } from './login-repo.ts';
import { markSessionVerified } from './sessions-repo.ts';
import { revokeAllFor } from './session-service.ts';
import { issueRecoveryCodes } from './recovery-codes.ts';
import { base32Encode, newTotpSecret, otpauthUri, verifyTotp } from './totp.ts';

/** Starts TOTP enrollment: a new secret, encrypted at rest, shown to the user once. */
export async function startTotpEnrollment(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  email: string,
): Promise<{ secret: string; otpauthUri: string }> {
  const existing = await findTotpFactor(tx, d.codec, p.orgId, p.userId);
  existing?.secret.fill(0);
  if (existing?.confirmed)
    throw new WardError('conflict', 'An authenticator is already enrolled; remove it first');
  const secret = newTotpSecret();
  await insertTotpFactor(tx, d.codec, p.orgId, p.userId, secret);
  await record(tx, {
    action: 'E',
    eventType: 'auth.mfa.enroll_start',
    entityType: 'User',
    entityId: p.userId,
  });
  const out = { secret: base32Encode(secret), otpauthUri: otpauthUri(secret, email, 'Ward') };
  secret.fill(0);
  return out;
}

/**
 * Confirms enrollment with a first code, issues recovery codes (shown once, stored hashed)
 * and lifts the session's enrollment restriction: the user has just proved both factors.
 * Every other session of the user ends.
 */
export async function confirmTotpEnrollment(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  code: string,
): Promise<{ recoveryCodes: string[] }> {
  const factor = await findTotpFactor(tx, d.codec, p.orgId, p.userId);
  if (!factor || factor.confirmed) {
    factor?.secret.fill(0);
    throw new WardError('conflict', 'There is no enrollment waiting for confirmation');
  }
  await refuseWhileLocked(tx, p.userId);
  const step = verifyTotp(factor.secret, code, nowMs(d), factor.lastUsedStep);
  factor.secret.fill(0);
  if (step === undefined)
    throw credentialFailure('totp', 'validation_failed', 'The code is not valid');
  await useTotpStep(tx, factor.id, step);
  const codes = await issueRecoveryCodes(tx, d, p.orgId, p.userId);
  if (p.sessionId) await markSessionVerified(tx, p.sessionId);
  // Sessions opened before the second factor existed were opened by the password alone:
  // whoever may have taken one over keeps none of them once the account has two factors.
  await revokeAllFor(tx, p.userId, 'mfa_enrolled', p.sessionId);
  await record(tx, {
    action: 'E',
    eventType: 'auth.mfa.enroll',
    entityType: 'User',
    entityId: p.userId,
    metadata: { recoveryCodes: codes.length },
  });
  return { recoveryCodes: codes };
}

/**
 * Removes the caller's authenticator after a fresh code; refused where the organization
 * requires MFA. Every other session of the user ends.
 */
export async function removeTotp(tx: Tx, d: AuthDeps, p: Principal, code: string): Promise<void> {
  if (mfaRequiredFor(p))
    throw new WardError('conflict', 'Your organization requires MFA for your role');
  await requireFreshCode(tx, d, p, code);
  await deleteMfa(tx, p.userId);
  // Changing how the account authenticates ends its other sessions, as a password change does.
  await revokeAllFor(tx, p.userId, 'mfa_removed', p.sessionId);
  await record(tx, {
    action: 'E',
    eventType: 'auth.mfa.remove',
    entityType: 'User',
    entityId: p.userId,
  });
}

/** Issues a new set of recovery codes after a fresh code. */
export async function regenerateRecoveryCodes(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  code: string,
): Promise<{ recoveryCodes: string[] }> {
  await requireFreshCode(tx, d, p, code);
  const codes = await issueRecoveryCodes(tx, d, p.orgId, p.userId);
  await record(tx, {
    action: 'E',
    eventType: 'auth.mfa.recovery_codes',
    entityType: 'User',
    entityId: p.userId,
  });
  return { recoveryCodes: codes };
}

/** MFA status of the caller. */
export async function mfaStatus(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
): Promise<{ enrolled: boolean; required: boolean; recoveryCodesLeft: number }> {
  const factor = await findTotpFactor(tx, d.codec, p.orgId, p.userId);
  factor?.secret.fill(0);
  return {
    enrolled: factor?.confirmed ?? false,
    required: mfaRequiredFor(p),
    recoveryCodesLeft: await remainingRecoveryCodes(tx, p.userId),
  };
}

/**
 * Step-up: when the user has an authenticator, a sensitive action (password change, API key
 * creation, MFA removal) needs a current code as well as an MFA-verified session.
 */
export async function requireFreshCode(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  code: string | undefined,
): Promise<void> {
  const factor = await findTotpFactor(tx, d.codec, p.orgId, p.userId);
  if (!factor?.confirmed) {
    factor?.secret.fill(0);
    return;
  }
  if (code === undefined || !p.mfaVerified) {
    factor.secret.fill(0);
    throw new WardError('mfa_required', 'A current authenticator code is required');
  }
  await refuseWhileLocked(tx, p.userId);
  const step = verifyTotp(factor.secret, code, nowMs(d), factor.lastUsedStep);
  factor.secret.fill(0);
  // A wrong code is counted like a failed login once the transaction has rolled back.
  if (step === undefined)
    throw credentialFailure('totp', 'mfa_required', 'A current authenticator code is required');
  await useTotpStep(tx, factor.id, step);
}
