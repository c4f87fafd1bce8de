import { randomBytes } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import type { AuthDeps } from './deps.ts';
import {
  consumeRecoveryCode,
  legacyRecoveryCodes,
  replaceRecoveryCodes,
  upgradeRecoveryCode,
} from './mfa-repo.ts';
import { hashSecret } from './tokens.ts';

/**
 * MFA recovery codes: ten per user, shown once, stored only keyed (`codec.recoveryCodeHash`:
 * HMAC under a key derived from the KEK-protected index root, bound to the user), single-use.
 * Codes stored before migration 0021 as plain SHA-256 still work and are re-stored keyed the
 * next time their user passes a second factor.
 */

const recoveryCodeCount = 10;

/** Recovery codes are shown as xxxx-xxxx-xxxx-xxxx; case and dashes do not matter when typed. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function formatRecoveryCode(bytes: Buffer): string {
  const s = bytes.toString('hex');
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}`;
}

/** Replaces the user's recovery codes with a fresh set; returns the codes to show once. */
export async function issueRecoveryCodes(
  tx: Tx,
  d: AuthDeps,
  orgId: string,
  userId: string,
): Promise<string[]> {
  const codes = Array.from({ length: recoveryCodeCount }, () => formatRecoveryCode(randomBytes(8)));
  const hashes: Buffer[] = [];
  for (const c of codes) {
    hashes.push(
      await d.codec.recoveryCodeHash(tx, orgId, userId, hashSecret(normalizeRecoveryCode(c))),
    );
  }
  await replaceRecoveryCodes(tx, orgId, userId, hashes);
  return codes;
}

/** Uses up one of the user's recovery codes if `typed` is one; returns whether it was. */
export async function useRecoveryCode(
  tx: Tx,
  d: AuthDeps,
  orgId: string,
  userId: string,
  typed: string,
): Promise<boolean> {
  const digest = hashSecret(normalizeRecoveryCode(typed));
  const keyed = await d.codec.recoveryCodeHash(tx, orgId, userId, digest);
  return consumeRecoveryCode(tx, userId, keyed, digest);
}

/**
 * Re-stores the user's remaining plain SHA-256 codes keyed. Their plaintext is not needed: the
 * keyed form is computed over the same SHA-256 the old row holds.
 */
export async function upgradeRecoveryCodes(
  tx: Tx,
  d: AuthDeps,
  orgId: string,
  userId: string,
): Promise<number> {
  const legacy = await legacyRecoveryCodes(tx, userId);
  for (const row of legacy) {
    await upgradeRecoveryCode(
      tx,
      row.id,
      row.codeHash,
      await d.codec.recoveryCodeHash(tx, orgId, userId, row.codeHash),
    );
  }
  return legacy.length;
}
