import { WardError } from '../../platform/errors.ts';

/** Which credential a signed-in caller got wrong. */
export type CheckedCredential = 'password' | 'totp';

/**
 * An error for a failed credential check by a signed-in caller (its current password, an
 * authenticator code). Its meta names the credential, so the route's failure hook counts it
 * like a failed login (`noteCredentialFailure`) once the request's transaction has rolled back.
 */
export function credentialFailure(
  credential: CheckedCredential,
  code: 'validation_failed' | 'mfa_required',
  detail: string,
): WardError {
  return new WardError(code, detail, { credential });
}

/** The credential `error` reports as wrong, or undefined for any other error. */
export function failedCredential(error: unknown): CheckedCredential | undefined {
  if (!(error instanceof WardError)) return undefined;
  const c = error.meta['credential'];
  return c === 'password' || c === 'totp' ? c : undefined;
}
