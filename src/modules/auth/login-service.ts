import type { FastifyRequest } from 'fastify';
import { WardError } from '../../platform/errors.ts';
import { record, recordDetached } from '../audit/record.ts';
import {
  mfaRequiredFor,
  readSettings,
  type OrganizationSettings,
  type Principal,
} from '../access/principal.ts';
import { nowMs, type AuthDeps, type ClientInfo } from './deps.ts';
import {
  accountThrottleKey,
  clearAccountFailures,
  countFailedCheck,
  ipThrottleKey,
} from './credential-throttle.ts';
import { findLoginAccount, noteLoginSuccess, type LoginAccount } from './login-repo.ts';
import { findTotpFactor, useTotpStep } from './mfa-repo.ts';
import {
  isBcryptHash,
  rehashPassword,
  verifyAgainstDummy,
  verifyStoredPassword,
} from './passwords.ts';
import { createChallenge } from './challenge-service.ts';
import { upgradeRecoveryCodes } from './recovery-codes.ts';
import { openSession, type IssuedSession } from './session-service.ts';
import { readThrottle } from './throttle-repo.ts';
import { verifyTotp } from './totp.ts';
import { failedCredential } from './credential-failure.ts';

/** A login's first answer: a session, or a request for the second factor. */
export type LoginResult =
  | (IssuedSession & { readonly mfaRequired: false })
  | { readonly mfaRequired: true; readonly mfaToken: string; readonly expiresAt: string };

/**
 * Password login (and, when `totpCode` is given, both factors at once). Every failure looks
 * the same to the caller — wrong email, wrong password, locked, disabled — and costs the same
 * argon2id time; the audit trail records the real reason. Throttling is per IP and per
 * account (also for emails that have no account, so lockout behaviour reveals nothing).
 */
export async function login(
  d: AuthDeps,
  input: { email: string; password: string; totpCode?: string | undefined },
  client: ClientInfo,
): Promise<LoginResult> {
  const email = input.email.trim().toLowerCase();
  const ipKey = ipThrottleKey(client);
  const acctKey = accountThrottleKey(email);
  const { account, throttle } = await d.db.asSystem(
    { name: 'auth.login', reason: 'a login has no tenant until its account is found' },
    async (tx) => ({
      account: await findLoginAccount(tx, email),
      throttle: await readThrottle(tx, [ipKey, acctKey]),
    }),
  );
  const now = new Date(nowMs(d));
  const ipBlocked = throttle.get(ipKey.toString('hex'))?.blockedUntil;
  if (ipBlocked && ipBlocked > now) {
    await audit(d, account, client, 'ip_throttled');
    throw new WardError(
      'rate_limited',
      'Too many failed logins from this address; try again later',
    );
  }
  const settings = readSettings(account?.settings);
  const acctBlocked = throttle.get(acctKey.toString('hex'))?.blockedUntil;
  const stored = account?.passwordHash ?? null;
  const passwordOk = stored
    ? await verifyStoredPassword(stored, input.password)
    : await verifyAgainstDummy(input.password);

  let reason: string | undefined;
  if (acctBlocked && acctBlocked > now) reason = 'account_locked';
  else if (!account) reason = 'unknown_account';
  else if (!passwordOk) reason = 'bad_password';
  else if (account.status !== 'active') reason = 'user_inactive';
  else if (account.orgStatus !== 'active') reason = 'organization_inactive';
  else if (account.principalType !== 'human') reason = 'not_a_person';
  if (reason !== undefined || !account) {
    await fail(d, account, settings, client, reason ?? 'unknown_account', ipKey, acctKey);
  }
  const acct = account as LoginAccount;

  if (acct.mfaConfirmed && input.totpCode === undefined) {
    // The password alone proves half a login: the account's failure count stays as it is
    // (wrong second factors included) until the second factor is right too.
    const challenge = await createChallenge(d, acct, client);
    return { mfaRequired: true, mfaToken: challenge.token, expiresAt: challenge.expiresAt };
  }

  const ctx = {
    orgId: acct.orgId,
    userId: acct.userId,
    actorType: 'user' as const,
    requestId: client.requestId,
  };
  const result = await d.db.withContext(ctx, async (tx) => {
    let method: 'password' | 'password+totp' = 'password';
    if (acct.mfaConfirmed) {
      const factor = await findTotpFactor(tx, d.codec, acct.orgId, acct.userId);
      const step = factor
        ? verifyTotp(factor.secret, input.totpCode ?? '', nowMs(d), factor.lastUsedStep)
        : undefined;
      factor?.secret.fill(0);
      // A wrong second factor: nothing is written, the caller counts a failure.
      if (!factor || step === undefined) return undefined;
      await useTotpStep(tx, factor.id, step);
      await upgradeRecoveryCodes(tx, d, acct.orgId, acct.userId);
      method = 'password+totp';
    }
    const upgraded =
      acct.passwordHash && isBcryptHash(acct.passwordHash)
        ? await rehashPassword(input.password)
        : undefined;
    await noteLoginSuccess(tx, acct.userId, client.ip, upgraded);
    const needsEnrollment =
      !acct.mfaConfirmed &&
      mfaRequiredFor({
        roles: acct.roles,
        permissions: acct.permissions,
        settings,
        principalType: 'human',
      });
    const session = await openSession(tx, d, {
      orgId: acct.orgId,
      userId: acct.userId,
      client,
      mfaVerified: method === 'password+totp',
      restricted: needsEnrollment ? 'mfa_enrollment' : null,
      authMethod: method,
      settings,
    });
    await record(tx, {
      action: 'E',
      eventType: 'auth.login',
      outcome: '0',
      entityType: 'Session',
      entityId: session.sessionId,
      actorType: 'user',
      actorId: acct.userId,
      ip: client.ip,
      userAgent: client.userAgent,
      metadata: {
        method,
        passwordUpgraded: upgraded !== undefined,
        mfaEnrollmentRequired: needsEnrollment,
      },
    });
    return session;
  });
  if (!result) return fail(d, acct, settings, client, 'bad_totp_code', ipKey, acctKey);
  await clearAccountFailures(d, acctKey);
  return { ...result, mfaRequired: false };
}

async function fail(
  d: AuthDeps,
  account: LoginAccount | undefined,
  settings: OrganizationSettings,
  client: ClientInfo,
  reason: string,
  ipKey: Buffer,
  acctKey: Buffer,
): Promise<never> {
  await countFailedCheck(d, account, settings, client, ipKey, acctKey, async () =>
    audit(d, account, client, reason),
  );
  throw new WardError('login_failed');
}

/**
 * After a signed-in request failed on a credential check (its current password or an
 * authenticator code, see `credentialFailure`), counts the failure like a failed login (its
 * transaction has rolled back; this runs on its own): a stolen session cannot guess the
 * password or a code faster than the login's lockout allows, and reaching the threshold locks
 * the account everywhere. Records an `auth.step_up` event. Other errors pass untouched.
 */
export async function noteCredentialFailure(
  d: AuthDeps,
  error: unknown,
  p: Principal,
  client: ClientInfo,
  route: string,
): Promise<void> {
  const credential = failedCredential(error);
  if (credential === undefined) return;
  const email = await d.db.asSystem(
    {
      name: 'auth.step-up-throttle',
      reason: 'a failed credential check counts against its account',
    },
    async (tx) =>
      (await tx.query<{ email: string }>('select email from ward.users where id = $1', [p.userId]))
        .rows[0]?.email,
  );
  if (email === undefined) return;
  await countFailedCheck(
    d,
    p,
    p.settings,
    client,
    ipThrottleKey(client),
    accountThrottleKey(email),
    () =>
      recordDetached(
        d.db,
        {
          orgId: p.orgId,
          userId: p.userId,
          actorType: p.actorType,
          sessionId: p.sessionId,
          requestId: client.requestId,
        },
        {
          action: 'E',
          eventType: 'auth.step_up',
          outcome: '4',
          outcomeReason: credential === 'password' ? 'bad_password' : 'bad_totp_code',
          ip: client.ip,
          userAgent: client.userAgent,
          metadata: { route },
        },
      ),
  );
}

/**
 * Records a failed login. The typed email is not recorded in any form: people type passwords
 * into the email box, and the append-only trail would keep a digest of it for good (an unkeyed
 * hash of a password is a crackable password). A known account is named by its actor id;
 * repeated attempts on one address show as the throttle's lockout (`account_locked`).
 */
async function audit(
  d: AuthDeps,
  account: LoginAccount | undefined,
  client: ClientInfo,
  reason: string,
): Promise<void> {
  const ctx = account
    ? { orgId: account.orgId, actorType: 'user' as const, requestId: client.requestId }
    : undefined;
  await recordDetached(d.db, ctx, {
    action: 'E',
    eventType: 'auth.login',
    outcome: '4',
    outcomeReason: reason,
    actorType: 'user',
    ...(account ? { actorId: account.userId } : {}),
    ip: client.ip,
    userAgent: client.userAgent,
  });
}

/** `noteCredentialFailure` as a secured route's `afterFailure` hook. */
export function credentialFailureHook(
  d: AuthDeps,
): (error: unknown, p: Principal, req: FastifyRequest) => Promise<void> {
  return (error, p, req) => {
    const ua = req.headers['user-agent'];
    return noteCredentialFailure(
      d,
      error,
      p,
      {
        ip: req.ip,
        userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined,
        requestId: req.id,
      },
      req.routeOptions.url ?? req.url,
    );
  };
}
