import { createHmac, randomBytes } from 'node:crypto';

/**
 * TOTP (RFC 6238) over HOTP (RFC 4226): HMAC-SHA-1, 30-second steps, 6 digits — the profile
 * every authenticator app implements. Verification accepts one step of clock drift either way
 * and returns the step it matched so the caller can make the code single-use.
 */
export const totpStepSeconds = 30;
export const totpDigits = 6;

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Encodes bytes as RFC 4648 base32 without padding (the otpauth:// secret format). */
export function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += base32Alphabet.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += base32Alphabet.charAt((value << (5 - bits)) & 31);
  return out;
}

/** Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored). */
export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const idx = base32Alphabet.indexOf(ch);
    if (idx < 0) throw new Error('invalid base32');
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new 160-bit TOTP secret (RFC 4226 recommends at least 128, SHA-1's block suits 160). */
export function newTotpSecret(): Buffer {
  return randomBytes(20);
}

/** HOTP value for `counter` (RFC 4226 §5.3 dynamic truncation). */
export function hotp(
  secret: Buffer,
  counter: bigint,
  digits = totpDigits,
  algorithm = 'sha1',
): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(counter);
  const mac = createHmac(algorithm, secret).update(msg).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(binary).padStart(digits, '0');
}

/** The TOTP step for a time in milliseconds. */
export function totpStep(nowMs: number): bigint {
  return BigInt(Math.floor(nowMs / 1000 / totpStepSeconds));
}

/** The code for a time (used by tests and by enrollment confirmation fixtures). */
export function totpCode(secret: Buffer, nowMs: number = Date.now()): string {
  return hotp(secret, totpStep(nowMs));
}

/**
 * Checks `code` against the steps now-1, now, now+1 that are later than `lastUsedStep`.
 * @returns the matching step, or undefined
 */
export function verifyTotp(
  secret: Buffer,
  code: string,
  nowMs: number,
  lastUsedStep: bigint | null,
): bigint | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const now = totpStep(nowMs);
  let matched: bigint | undefined;
  // Check every candidate (no early exit) so timing does not reveal which step matched.
  for (const step of [now - 1n, now, now + 1n]) {
    const ok = constantTimeEqual(hotp(secret, step), code);
    if (ok && (lastUsedStep === null || step > lastUsedStep) && matched === undefined)
      matched = step;
  }
  return matched;
}

/** The provisioning URI authenticator apps scan as a QR code. */
export function otpauthUri(secret: Buffer, account: string, issuer: string): string {
  const label = encodeURIComponent(`${issuer}:${account}`);
  const params = new URLSearchParams({
    secret: base32Encode(secret),
    issuer,
    algorithm: 'SHA1',
    digits: String(totpDigits),
    period: String(totpStepSeconds),
  });
  return `otpauth://totp/${label}?${params.toString()}`;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
