import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import type { Principal } from '../access/principal.ts';
import type { AuthDeps } from './deps.ts';
import { credentialFailure } from './credential-failure.ts';
import { refuseWhileLocked } from './login-repo.ts';
import { requireFreshCode } from './mfa-service.ts';
import { screenPassword } from './password-screen.ts';
import { checkPasswordPolicy, hashPassword, verifyStoredPassword } from './passwords.ts';
import { revokeAllFor } from './session-service.ts';

/**
 * Changes the caller's password: the current password, a fresh authenticator code when one
 * is enrolled, and a new password that passes length and screening. Every other session of
 * the user is ended; the current one stays.
 */
export async function changePassword(
  tx: Tx,
  d: AuthDeps,
  p: Principal,
  input: { currentPassword: string; newPassword: string; totpCode?: string | undefined },
): Promise<{ sessionsEnded: number }> {
  if (!p.sessionId) throw new WardError('forbidden', 'API keys cannot change passwords');
  const r = await tx.query<{ password_hash: string | null; email: string; org_name: string }>(
    `select u.password_hash, u.email, o.name as org_name
       from ward.users u join ward.organizations o on o.id = u.organization_id where u.id = $1 for update of u`,
    [p.userId],
  );
  const row = r.rows[0];
  await refuseWhileLocked(tx, p.userId);
  if (
    !row?.password_hash ||
    !(await verifyStoredPassword(row.password_hash, input.currentPassword))
  ) {
    // Counted like a failed login once this transaction has rolled back (the route's hook).
    throw credentialFailure('password', 'validation_failed', 'The current password is not correct');
  }
  await requireFreshCode(tx, d, p, input.totpCode);
  checkPasswordPolicy(input.newPassword);
  screenPassword(input.newPassword, { email: row.email, organizationName: row.org_name });
  const hash = await hashPassword(input.newPassword);
  await tx.query(
    'update ward.users set password_hash = $2, password_changed_at = now() where id = $1',
    [p.userId, hash],
  );
  const ended = await revokeAllFor(tx, p.userId, 'password_changed', p.sessionId);
  await record(tx, {
    action: 'U',
    eventType: 'auth.password.change',
    entityType: 'User',
    entityId: p.userId,
  });
  return { sessionsEnded: ended };
}
