import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record, recordDetached } from '../audit/record.ts';
import { readSettings } from '../access/principal.ts';
import {
  findActivationTarget,
  hasPendingActivation,
  insertActivation,
  revokePendingActivations,
  setFirstPassword,
  useActivation,
} from './activation-repo.ts';
import {
  accountThrottleKey,
  countFailedCheck,
  ipThrottleKey,
  readBlocks,
} from './credential-throttle.ts';
import { nowMs, type AuthDeps, type ClientInfo } from './deps.ts';
import { screenPassword } from './password-screen.ts';
import { checkPasswordPolicy, hashPassword } from './passwords.ts';
import { mintToken, parseToken } from './tokens.ts';

/**
 * Account activation: a person created over the API gets no password from whoever created
 * them. The creation answers with a one-time token (`wac_…`, shown once, stored as SHA-256 of
 * its secret, bound to the user, valid 72 hours, single use), which the invitee presents once,
 * unauthenticated, with the password they choose. MFA is then enrolled at their first login,
 * as for everyone.
 */

/** How long an activation token is valid. */
export const activationHours = 72;

/** A freshly issued activation token, to be shown once. */
export interface IssuedActivation {
  readonly activationToken: string;
  readonly activationExpiresAt: string;
}

/**
 * Issues an activation token for a person who has not set a password yet, revoking any earlier
 * unused token of theirs. Refused for anyone else (a service account, an agent, a disabled
 * user, someone who has a password): the token can only ever give a first password.
 */
export async function issueActivation(
  tx: Tx,
  d: AuthDeps,
  target: { orgId: string; userId: string; issuedBy: string | null },
): Promise<IssuedActivation> {
  const r = await tx.query<{ eligible: boolean }>(
    `select (principal_type = 'human' and status = 'active' and password_hash is null) as eligible
       from ward.users where id = $1 for update`,
    [target.userId],
  );
  const eligible = r.rows[0]?.eligible;
  if (eligible === undefined) throw new WardError('not_found');
  if (!eligible)
    throw new WardError(
      'conflict',
      'Only an active person who has not set a password yet can be sent an activation',
      { reason: 'not_activatable' },
    );
  const replaced = await revokePendingActivations(tx, target.userId);
  const minted = mintToken('activation', target.orgId, randomUUID());
  const expiresAt = new Date(nowMs(d) + activationHours * 3_600_000);
  await insertActivation(tx, {
    orgId: target.orgId,
    id: minted.id,
    userId: target.userId,
    tokenHash: minted.hash,
    expiresAt,
    createdBy: target.issuedBy,
  });
  await record(tx, {
    action: 'C',
    eventType: 'user.activation.issue',
    entityType: 'User',
    entityId: target.userId,
    // Never the token: the trail says that one was issued, until when, and what it replaced.
    metadata: { activationId: minted.id, expiresAt: expiresAt.toISOString(), replaced },
  });
  return { activationToken: minted.token, activationExpiresAt: expiresAt.toISOString() };
}

/** Whether a person still has a usable activation token (for the idempotent replay). */
export function activationPending(tx: Tx, d: AuthDeps, userId: string): Promise<boolean> {
  return hasPendingActivation(tx, userId, new Date(nowMs(d)));
}

/**
 * Activates an account: sets the first password of the person a valid activation token names,
 * and uses the token up. Every failure answers the same `activation_failed` (an unknown, wrong,
 * used, revoked or expired token alike, so nothing tells whether an account exists); each is
 * audited and counted like a failed login against the client's address and, when the token
 * named a real activation, its account, and a blocked address (429) or account is refused
 * first. A password that fails the policy is a 400 that uses nothing up.
 */
export async function activate(
  d: AuthDeps,
  input: { token: string; password: string },
  client: ClientInfo,
): Promise<{ email: string }> {
  const ipKey = ipThrottleKey(client);
  const now = new Date(nowMs(d));
  // A blocked address is refused before anything is looked up, whatever it presents.
  if ((await readBlocks(d, ipKey, undefined, now)).ip) {
    await auditFailure(d, undefined, client, 'ip_throttled');
    throw tooMany();
  }
  const parsed = parseToken(input.token);
  if (!parsed || parsed.kind !== 'activation')
    return refuse(d, undefined, client, 'unknown_token', ipKey);
  const ctx = { orgId: parsed.orgId, actorType: 'user' as const, requestId: client.requestId };
  const target = await d.db.withContext(ctx, (tx) =>
    findActivationTarget(tx, parsed.id, parsed.hash),
  );
  if (!target) return refuse(d, undefined, client, 'unknown_token', ipKey);
  const account = { orgId: parsed.orgId, userId: target.userId };
  const acctKey = accountThrottleKey(target.email);
  const blocks = await readBlocks(d, ipKey, acctKey, now);
  if (blocks.ip) {
    await auditFailure(d, account, client, 'ip_throttled');
    throw tooMany();
  }
  const settings = readSettings(target.settings);
  if (blocks.account) return refuse(d, account, client, 'account_locked', ipKey, acctKey, settings);
  const done = await d.db.withContext({ ...ctx, userId: target.userId }, async (tx) => {
    if (!(await useActivation(tx, parsed.id, parsed.hash, target.userId, now))) return false;
    // The policy is checked after the token (its messages are for the token's holder only);
    // a refusal rolls the use back, so the invitee can try another password.
    checkPasswordPolicy(input.password);
    screenPassword(input.password, { email: target.email, organizationName: target.orgName });
    if (!(await setFirstPassword(tx, target.userId, await hashPassword(input.password))))
      return false;
    await record(tx, {
      action: 'E',
      eventType: 'auth.activate',
      outcome: '0',
      entityType: 'User',
      entityId: target.userId,
      actorType: 'user',
      actorId: target.userId,
      ip: client.ip,
      userAgent: client.userAgent,
      metadata: { activationId: parsed.id },
    });
    return true;
  });
  if (!done) return refuse(d, account, client, 'token_not_usable', ipKey, acctKey, settings);
  return { email: target.email };
}

const tooMany = () =>
  new WardError('rate_limited', 'Too many failed attempts from this address; try again later');

/** Counts, audits and answers a refused activation. */
async function refuse(
  d: AuthDeps,
  account: { orgId: string; userId: string } | undefined,
  client: ClientInfo,
  reason: 'unknown_token' | 'token_not_usable' | 'account_locked',
  ipKey: Buffer,
  acctKey?: Buffer,
  settings = readSettings(undefined),
): Promise<never> {
  await countFailedCheck(d, account, settings, client, ipKey, acctKey, () =>
    auditFailure(d, account, client, reason),
  );
  throw new WardError('activation_failed');
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
      eventType: 'auth.activate',
      outcome: '4',
      outcomeReason: reason,
      actorType: 'user',
      ...(account ? { actorId: account.userId } : {}),
      ip: client.ip,
      userAgent: client.userAgent,
    },
  );
}
