import { dictionary } from '@zxcvbn-ts/language-common';
import { WardError } from '../../platform/errors.ts';

/**
 * Screens a new password against what attackers try first (NIST SP 800-63B-4 §3.1.1.2):
 * the ~49,000 most common passwords (the `passwords-common` list shipped with
 * @zxcvbn-ts/language-common, MIT), repetitions of one of them or of a short pattern, and
 * words from the account's own context. Length is checked separately; there are no
 * composition rules.
 */
const common: ReadonlySet<string> = new Set(
  dictionary['passwords-common'].map((p) => p.toLowerCase()),
);

/** Context words a password must not be built from (the email's local part, the org name). */
export interface ScreenContext {
  readonly email?: string | undefined;
  readonly organizationName?: string | undefined;
}

/** Throws `validation_failed` when the password is common, repetitive or contextual. */
export function screenPassword(password: string, context: ScreenContext = {}): void {
  const lower = password.normalize('NFKC').toLowerCase();
  if (common.has(lower)) reject('it is one of the most commonly used passwords');
  // "passwordpassword", "qwertyqwerty1": one common password or short pattern, repeated.
  const core = lower.replace(/[^a-z0-9]+$/u, '');
  for (let size = 1; size <= Math.floor(core.length / 2); size++) {
    if (core.length % size !== 0) continue;
    const unit = core.slice(0, size);
    if (unit.repeat(core.length / size) === core && (size <= 4 || common.has(unit))) {
      reject('it repeats a short or common sequence');
    }
  }
  const letters = lower.replace(/[^\p{L}\p{N}]/gu, '');
  for (const word of contextWords(context)) {
    if (letters === word || (word.length >= 4 && letters.replaceAll(word, '').length < 6)) {
      reject('it is built from the account name or organization name');
    }
  }
}

function contextWords(c: ScreenContext): string[] {
  const words: string[] = [];
  const local = c.email
    ?.split('@')[0]
    ?.toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
  if (local) words.push(local);
  const org = c.organizationName?.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
  if (org) words.push(org);
  return words.filter((w) => w.length >= 3);
}

function reject(why: string): never {
  throw new WardError('validation_failed', `Choose another password: ${why}`);
}
