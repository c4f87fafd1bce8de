import { randomUUID } from 'node:crypto';
import { WardError } from '../../platform/errors.ts';
import { record, recordDetached } from '../audit/record.ts';
import { readSettings } from '../access/principal.ts';
import { nowMs, type AuthDeps, type ClientInfo } from './deps.ts';
import {
  challengeOwner,
  consumeChallenge,
  insertChallenge,
  takeAttempt,
} from './challenge-repo.ts';
import {
  accountThrottleKey,
  clearAccountFailures,
  countFailedCheck,
  ipThrottleKey,
  readBlocks,
} from './credential-throttle.ts';
import { noteLoginSuccess, type LoginAccount } from './login-repo.ts';
import { findTotpFactor, useTotpStep } from './mfa-repo.ts';
import { upgradeRecoveryCodes, useRecoveryCode } from './recovery-codes.ts';
import { openSession, type IssuedSession } from './session-service.ts';
import { mintToken, parseToken } from './tokens.ts';
import { verifyTotp } from './totp.ts';

const challengeMinutes = 5;
const maxAttempts = 5;

/** Creates the MFA challenge that a correct password earns (the `mfaToken`). */
export async function createChallenge(
  d: AuthDeps,
  acct: LoginAccount,
  client: ClientInfo,
): Promise<{ token: string; expiresAt: string }> {
  const minted = mintToken('mfa_challenge', acct.orgId, randomUUID());
  const expiresAt = new Date(nowMs(d) + challengeMinutes * 60_000);
  await d.db.withContext(
    { orgId: acct.orgId, userId: acct.userId, actorType: 'user', requestId: client.requestId },
    async (tx) => {
      await insertChallenge(tx, {
        orgId: acct.orgId,
        id: minted.id,
        userId: acct.userId,
        tokenHash: minted.hash,
        ip: client.ip,
        userAgent: client.userAgent,
        expiresAt,
      });
      await record(tx, {
        action: 'E',
        eventType: 'auth.login.password_ok',
        actorType: 'user',
        actorId: acct.userId,
        ip: client.ip,
        userAgent: client.userAgent,
        metadata: { mfaRequired: true },
      });
    },
  );
  return { token: minted.token, expiresAt: expiresAt.toISOString() };
}

/**
 * Completes an MFA login with a TOTP code or a recovery code. A challenge is single-use,
 * expires in five minutes and allows five attempts, each taken and committed before its code
 * is checked (so parallel guesses cannot exceed five); TOTP steps are single-use too. A wrong
 * second factor counts against the account and the address like a wrong password (lockout,
 * alert), and a blocked account or address is refused before any code is checked, with the
 * answer a blocked login gets.
 */
export async function completeChallenge(
  d: AuthDeps,
  input: { mfaToken: string; code?: string | undefined; recoveryCode?: string | undefined },
  client: ClientInfo,
): Promise<IssuedSession> {
  const ipKey = ipThrottleKey(client);
  const now = new Date(nowMs(d));
  // A blocked address is refused before anything is looked up or any attempt is taken.
  if ((await readBlocks(d, ipKey, undefined, now)).ip) {
    await auditFailure(d, undefined, client, 'ip_throttled');
    throw tooMany();
  }
  const parsed = parseToken(input.mfaToken);
  if (!parsed || parsed.kind !== 'mfa_challenge')
    return refuse(d, undefined, client, 'unknown_challenge', ipKey);
  const ctx = { orgId: parsed.orgId, actorType: 'user' as const, requestId: client.requestId };
  // The attempt is taken in a transaction of its own that commits before any code is checked:
  // a failing check rolls back its own transaction, never the count of attempts.
  const taken = await d.db.withContext(ctx, async (tx) => {
    const attempt = await takeAttempt(tx, parsed.id, parsed.hash, now, maxAttempts);
    return attempt ?? { missing: await challengeOwner(tx, parsed.id, parsed.hash) };
  });
  if ('missing' in taken) {
    const who = taken.missing ? { orgId: parsed.orgId, userId: taken.missing } : undefined;
    return refuse(d, who, client, who ? 'challenge_expired' : 'unknown_challenge', ipKey);
  }
  const account = { orgId: parsed.orgId, userId: taken.userId };
  const settings = readSettings(taken.settings);
  const acctKey = accountThrottleKey(taken.email);
  const blocks = await readBlocks(d, ipKey, acctKey, now);
  if (blocks.ip) {
    await auditFailure(d, account, client, 'ip_throttled');
    throw tooMany();
  }
  if (blocks.account) {
    await countFailedCheck(d, account, settings, client, ipKey, acctKey, () =>
      auditFailure(d, account, client, 'account_locked'),
    );
    throw new WardError('login_failed');
  }
  const session = await d.db.withContext({ ...ctx, userId: taken.userId }, async (tx) => {
    let method: 'password+totp' | 'password+recovery' | undefined;
    if (input.code !== undefined) {
      const factor = await findTotpFactor(tx, d.codec, parsed.orgId, taken.userId);
      const step = factor?.confirmed
        ? verifyTotp(factor.secret, input.code, nowMs(d), factor.lastUsedStep)
        : undefined;
      factor?.secret.fill(0);
      if (factor && step !== undefined) {
        await useTotpStep(tx, factor.id, step);
        method = 'password+totp';
      }
    } else if (input.recoveryCode !== undefined) {
      if (await useRecoveryCode(tx, d, parsed.orgId, taken.userId, input.recoveryCode))
        method = 'password+recovery';
    }
    // Two right answers racing on one challenge: only the first opens a session.
    if (!method || !(await consumeChallenge(tx, parsed.id))) return undefined;
    await noteLoginSuccess(tx, taken.userId, client.ip);
    // Codes stored before they were keyed are re-stored keyed at their user's next full login.
    await upgradeRecoveryCodes(tx, d, parsed.orgId, taken.userId);
    const issued = await openSession(tx, d, {
      orgId: parsed.orgId,
      userId: taken.userId,
      client,
      mfaVerified: true,
      restricted: null,
      authMethod: method,
      settings,
    });
    await record(tx, {
      action: 'E',
      eventType: 'auth.login',
      outcome: '0',
      entityType: 'Session',
      entityId: issued.sessionId,
      actorType: 'user',
      actorId: taken.userId,
      ip: client.ip,
      userAgent: client.userAgent,
      metadata: { method },
    });
    return issued;
  });
  if (!session) {
    await countFailedCheck(d, account, settings, client, ipKey, acctKey, () =>
      auditFailure(d, account, client, 'bad_second_factor'),
    );
    throw new WardError('login_failed');
  }
  // Both factors were right: now, and only now, the account's failures are forgiven.
  await clearAccountFailures(d, acctKey);
  return session;
}

/** The answer a blocked address gets, here as at the login. */
const tooMany = () =>
  new WardError('rate_limited', 'Too many failed logins from this address; try again later');

/**
 * A second step that reached no live challenge: counted against the address only (no code
 * was checked, so the account's count is not touched), audited, and answered like any failure.
 */
async function refuse(
  d: AuthDeps,
  account: { orgId: string; userId: string } | undefined,
  client: ClientInfo,
  reason: 'unknown_challenge' | 'challenge_expired',
  ipKey: Buffer,
): Promise<never> {
  await countFailedCheck(d, account, readSettings(undefined), client, ipKey, undefined, () =>
    auditFailure(d, account, client, reason),
  );
  throw new WardError('login_failed');
}

async function auditFailure(
  d: AuthDeps,
  account: { orgId: string; userId: string } | undefined,
  client: ClientInfo,
  reason: string,
): Promise<void> {
  await recordDetached(
    d.db,
    account ? { orgId: account.orgId, actorType: 'user', requestId: client.requestId } : undefined,
    {
      action: 'E',
      eventType: 'auth.login',
      outcome: '4',
      outcomeReason: reason,
      actorType: 'user',
      ...(account ? { actorId: account.userId } : {}),
      ip: client.ip,
      userAgent: client.userAgent,
    },
  );
}
