import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isUuid } from '../../platform/db/index.ts';

/**
 * Opaque bearer tokens. A token names the organization and the row it belongs to, followed
 * by 256 random bits; only SHA-256 of the secret part is stored (seed 2: session token
 * hashing). The organization in a token is a claim: the request transaction runs under it,
 * and the authenticate functions find nothing unless the row exists there with that hash.
 *
 *   wst_<org uuid hex><row uuid hex><secret base64url>   session
 *   wak_…                                                API key (service account, agent)
 *   wmf_…                                                MFA login challenge (step two)
 *   wac_…                                                account activation (first password)
 */
export type TokenKind = 'session' | 'api_key' | 'mfa_challenge' | 'activation';

const prefixes: Record<TokenKind, string> = {
  session: 'wst_',
  api_key: 'wak_',
  mfa_challenge: 'wmf_',
  activation: 'wac_',
};
const secretBytes = 32;

/** A freshly minted token and what to store of it. */
export interface MintedToken {
  readonly token: string;
  readonly id: string;
  readonly hash: Buffer;
}

/** The parts of a presented token. */
export interface ParsedToken {
  readonly kind: TokenKind;
  readonly orgId: string;
  readonly id: string;
  readonly hash: Buffer;
}

const hex = (uuid: string) => uuid.replaceAll('-', '');
const uuidFromHex = (h: string) =>
  `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

/** SHA-256 of a token secret: the only form in which secrets are stored. */
export function hashSecret(secret: string | Buffer): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Mints a token of `kind` for row `id` in organization `orgId`. */
export function mintToken(kind: TokenKind, orgId: string, id: string): MintedToken {
  const secret = randomBytes(secretBytes).toString('base64url');
  return {
    token: `${prefixes[kind]}${hex(orgId)}${hex(id)}${secret}`,
    id,
    hash: hashSecret(secret),
  };
}

/** Parses a presented token; undefined when it is not well-formed (never throws). */
export function parseToken(token: string): ParsedToken | undefined {
  if (token.length !== 4 + 64 + 43) return undefined;
  const kind = (Object.keys(prefixes) as TokenKind[]).find((k) => token.startsWith(prefixes[k]));
  if (!kind) return undefined;
  const body = token.slice(4);
  if (!/^[0-9a-f]{64}[A-Za-z0-9_-]{43}$/.test(body)) return undefined;
  const orgId = uuidFromHex(body.slice(0, 32));
  const id = uuidFromHex(body.slice(32, 64));
  if (!isUuid(orgId) || !isUuid(id)) return undefined;
  return { kind, orgId, id, hash: hashSecret(body.slice(64)) };
}

/** Constant-time equality of two hashes of equal length. */
export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
