import { createHash } from 'node:crypto';
import { clientBucket } from '../../platform/http/rate-limit.ts';
import type { OrganizationSettings } from '../access/principal.ts';
import type { AuthDeps, ClientInfo } from './deps.ts';
import { noteLoginFailure } from './login-repo.ts';
import { clearThrottle, countFailure, readThrottle } from './throttle-repo.ts';

/**
 * The one account of failed credential checks. Every door that checks a password or a second
 * factor — the login, the MFA step of a login, a signed-in step-up — counts its failures here,
 * against the client's address and the account's email, so guesses through any door add up
 * to the same lockout and the same alert.
 */

/** Per-IP limits: a password-spraying source is slowed down whatever accounts it tries. */
const ipThreshold = 30;
const ipWindowMinutes = 15;
const ipBlockMinutes = 15;
const accountWindowMinutes = 15;

const keyFor = (kind: 'ip' | 'acct', value: string) =>
  createHash('sha256').update(`${kind}:${value}`).digest();

/** The throttle key of a client address: an IPv6 client is its /64, like the rate limit. */
export function ipThrottleKey(client: ClientInfo): Buffer {
  return keyFor('ip', client.ip ? clientBucket(client.ip) : 'unknown');
}

/**
 * The throttle key of an account, by its email (lower-cased). `ward.clear_account_throttle`
 * computes the same digest in SQL for an administrator's unlock.
 */
export function accountThrottleKey(email: string): Buffer {
  return keyFor('acct', email.trim().toLowerCase());
}

/** Which of the two keys is blocked right now. */
export interface Blocks {
  readonly ip: boolean;
  readonly account: boolean;
}

/**
 * Reads whether the address and (when given) the account are blocked, `now` from the deps'
 * clock.
 */
export async function readBlocks(
  d: AuthDeps,
  ipKey: Buffer,
  acctKey: Buffer | undefined,
  now: Date,
): Promise<Blocks> {
  const throttle = await d.db.asSystem(
    {
      name: 'auth.throttle-read',
      reason: 'the login throttle is global: keyed by address and email',
    },
    (tx) => readThrottle(tx, acctKey ? [ipKey, acctKey] : [ipKey]),
  );
  const blocked = (k: Buffer | undefined) => {
    const until = k ? throttle.get(k.toString('hex'))?.blockedUntil : undefined;
    return until != null && until > now;
  };
  return { ip: blocked(ipKey), account: blocked(acctKey) };
}

/**
 * Counts one failed credential check against its address and, when given, its account,
 * mirrors the account's state onto the user row, calls `audit`, and raises an alert when this
 * failure locked the account.
 */
export async function countFailedCheck(
  d: AuthDeps,
  account: { readonly orgId: string; readonly userId: string } | undefined,
  settings: OrganizationSettings,
  client: ClientInfo,
  ipKey: Buffer,
  acctKey: Buffer | undefined,
  audit: () => Promise<unknown>,
): Promise<void> {
  const locked = await d.db.asSystem(
    { name: 'auth.login-throttle', reason: 'count a failed login against its address and account' },
    async (tx) => {
      await countFailure(tx, ipKey, ipThreshold, ipWindowMinutes, ipBlockMinutes);
      if (!acctKey) return null;
      const acct = await countFailure(
        tx,
        acctKey,
        settings.lockoutThreshold,
        accountWindowMinutes,
        settings.lockoutMinutes,
      );
      if (account) await noteLoginFailure(tx, account.userId, acct.failures, acct.blockedUntil);
      return acct.failures === settings.lockoutThreshold ? acct.blockedUntil : null;
    },
  );
  await audit();
  if (locked && account) {
    await d.db.withContext(
      { orgId: account.orgId, actorType: 'system', requestId: client.requestId },
      async (tx) => {
        await tx.query(
          `insert into ward.security_alerts (organization_id, kind, severity, subject_user_id, details)
         values ($1, 'auth.account_locked', 'medium', $2, $3::jsonb)`,
          [
            account.orgId,
            account.userId,
            JSON.stringify({
              lockedUntil: locked.toISOString(),
              threshold: settings.lockoutThreshold,
            }),
          ],
        );
      },
    );
  }
}

/**
 * Clears the account's failure count once a login has succeeded in full — both factors where
 * the account has two. Never after the password alone: that would let anyone who knows the
 * password reset the count of wrong second factors as often as they like.
 */
export async function clearAccountFailures(d: AuthDeps, acctKey: Buffer): Promise<void> {
  await d.db.asSystem(
    { name: 'auth.login-reset', reason: 'clear the account throttle after a successful login' },
    (tx) => clearThrottle(tx, acctKey),
  );
}
