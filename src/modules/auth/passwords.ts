import { hash, verify, type Algorithm } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { WardError } from '../../platform/errors.ts';

/**
 * argon2id with the OWASP Password Storage Cheat Sheet's first recommended configuration
 * (m = 19 MiB, t = 2, p = 1): memory-hard enough to make offline guessing costly, cheap
 * enough for a 2-core server to absorb a login burst.
 */
const argonOptions = {
  // Algorithm.Argon2id; a const enum, so named by value under verbatimModuleSyntax.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
  algorithm: 2 as Algorithm,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * Length bounds. NIST SP 800-63B-4 asks for at least 15 characters when a password is the
 * only factor; Ward cannot know MFA is enrolled when a password is set, so 15 it is. The
 * upper bound stops hashing megabytes on a login request.
 */
export const passwordMinLength = 15;
export const passwordMaxLength = 256;

/** Rejects passwords that fail the length policy. No composition rules (NIST 800-63B). */
export function checkPasswordPolicy(password: string): void {
  // Count code points, not UTF-16 units, so that non-Latin passwords are measured fairly.
  const length = Array.from(password).length;
  if (length < passwordMinLength) {
    throw new WardError(
      'validation_failed',
      `The password must have at least ${passwordMinLength} characters`,
    );
  }
  if (length > passwordMaxLength) {
    throw new WardError(
      'validation_failed',
      `The password must have at most ${passwordMaxLength} characters`,
    );
  }
}

/** Hashes a password with argon2id after checking the policy. */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordPolicy(password);
  return rehashPassword(password);
}

/**
 * Hashes an already-accepted password with argon2id, without the policy check: used to
 * upgrade an imported bcrypt hash at login, when the password was set under older rules.
 */
export function rehashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFKC'), argonOptions);
}

/** True for a bcrypt hash ($2a$, $2b$, $2y$), as imported from systems like seed 1's. */
export function isBcryptHash(stored: string): boolean {
  return /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(stored);
}

/** Verifies a password against a stored argon2id or bcrypt hash. */
export async function verifyStoredPassword(stored: string, password: string): Promise<boolean> {
  if (password.length > passwordMaxLength * 4) return false;
  if (isBcryptHash(stored)) {
    // bcrypt reads at most 72 bytes; compare as the original system did.
    return bcrypt.compare(password, stored).catch(() => false);
  }
  return verifyPassword(stored, password);
}

let dummy: Promise<string> | undefined;

/**
 * Burns the same time as a real verification when there is no account (or no hash), so the
 * response time does not tell an attacker whether an email is registered.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummy ??= rehashPassword('ward timing equalizer, never a real password');
  await verifyPassword(await dummy, password);
  return false;
}

/** Verifies a password against an argon2id hash in constant time (inside argon2). */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  if (password.length > passwordMaxLength * 4) return false;
  try {
    return await verify(storedHash, password.normalize('NFKC'));
  } catch {
    return false;
  }
}
