import { randomUUID } from 'node:crypto';
import { WardError } from '../../platform/errors.ts';
import { record, recordDetached } from '../audit/record.ts';
import { readSettings } from '../access/principal.ts';
import { nowMs, type AuthDeps, type ClientInfo } from './deps.ts';
import type { LoginAccount } from './login-repo.ts';
import { consumeRecoveryCode, findTotpFactor, useTotpStep } from './mfa-repo.ts';
import { openSession, type IssuedSession } from './session-service.ts';
import { hashSecret, mintToken, parseToken } from './tokens.ts';
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
      await tx.query(
        `insert into ward.login_challenges (organization_id, id, user_id, token_hash, ip, user_agent, expires_at)
       values ($1, $2, $3, $4, $5::inet, $6, $7)`,
        [
          acct.orgId,
          minted.id,
          acct.userId,
          minted.hash,
          client.ip ?? null,
          client.userAgent?.slice(0, 512) ?? null,
          expiresAt,
        ],
      );
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
 * expires in five minutes and allows five attempts; TOTP steps are single-use too.
 */
export async function completeChallenge(
  d: AuthDeps,
  input: { mfaToken: string; code?: string | undefined; recoveryCode?: string | undefined },
  client: ClientInfo,
): Promise<IssuedSession> {
  const parsed = parseToken(input.mfaToken);
  if (!parsed || parsed.kind !== 'mfa_challenge') throw new WardError('login_failed');
  const ctx = { orgId: parsed.orgId, actorType: 'user' as const, requestId: client.requestId };
  let failure: { reason: string; userId?: string } | undefined;
  const session = await d.db.withContext(ctx, async (tx) => {
    const r = await tx.query<{
      user_id: string;
      token_hash: Buffer;
      attempts: number;
      expires_at: Date;
      consumed_at: Date | null;
      settings: unknown;
    }>(
      `select c.user_id, c.token_hash, c.attempts, c.expires_at, c.consumed_at, o.settings
         from ward.login_challenges c join ward.organizations o on o.id = c.organization_id
        where c.id = $1 for update of c`,
      [parsed.id],
    );
    const ch = r.rows[0];
    if (!ch || !ch.token_hash.equals(parsed.hash)) {
      failure = { reason: 'unknown_challenge' };
      return undefined;
    }
    if (ch.consumed_at || ch.expires_at <= new Date(nowMs(d)) || ch.attempts >= maxAttempts) {
      failure = { reason: 'challenge_expired', userId: ch.user_id };
      return undefined;
    }
    let method: 'password+totp' | 'password+recovery' | undefined;
    if (input.code !== undefined) {
      const factor = await findTotpFactor(tx, d.codec, parsed.orgId, ch.user_id);
      const step = factor?.confirmed
        ? verifyTotp(factor.secret, input.code, nowMs(d), factor.lastUsedStep)
        : undefined;
      factor?.secret.fill(0);
      if (factor && step !== undefined) {
        await useTotpStep(tx, factor.id, step);
        method = 'password+totp';
      }
    } else if (input.recoveryCode !== undefined) {
      if (
        await consumeRecoveryCode(
          tx,
          ch.user_id,
          hashSecret(normalizeRecoveryCode(input.recoveryCode)),
        )
      )
        method = 'password+recovery';
    }
    if (!method) {
      // Count the attempt in a transaction that commits even though this one fails.
      failure = { reason: 'bad_second_factor', userId: ch.user_id };
      return undefined;
    }
    await tx.query('update ward.login_challenges set consumed_at = now() where id = $1', [
      parsed.id,
    ]);
    const issued = await openSession(tx, d, {
      orgId: parsed.orgId,
      userId: ch.user_id,
      client,
      mfaVerified: true,
      restricted: null,
      authMethod: method,
      settings: readSettings(ch.settings),
    });
    await record(tx, {
      action: 'E',
      eventType: 'auth.login',
      outcome: '0',
      entityType: 'Session',
      entityId: issued.sessionId,
      actorType: 'user',
      actorId: ch.user_id,
      ip: client.ip,
      userAgent: client.userAgent,
      metadata: { method },
    });
    return issued;
  });
  if (session) return session;
  const f = failure ?? { reason: 'unknown_challenge' };
  if (f.userId) {
    await d.db.withContext(ctx, (tx) =>
      tx.query('update ward.login_challenges set attempts = attempts + 1 where id = $1', [
        parsed.id,
      ]),
    );
  }
  await recordDetached(d.db, f.userId ? ctx : undefined, {
    action: 'E',
    eventType: 'auth.login',
    outcome: '4',
    outcomeReason: f.reason,
    actorType: 'user',
    ...(f.userId ? { actorId: f.userId } : {}),
    ip: client.ip,
    userAgent: client.userAgent,
  });
  throw new WardError('login_failed');
}

/** Recovery codes are shown as xxxx-xxxx-xxxx; case and dashes do not matter when typed. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]/g, '');
}
