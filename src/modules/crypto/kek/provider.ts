import { uuidBytes } from '../field-format.ts';

/**
 * What a wrapped key is for; part of what the wrapping binds. `audit-signing` is the audit
 * module's checkpoint signing seed and `cursor` the pagination cursor key (both platform-level:
 * their org is the all-zero platform id).
 */
export type KeyPurpose = 'data' | 'index' | 'audit-signing' | 'cursor';

/** The identity of a wrapped key: swapping wrapped keys between rows fails to unwrap. */
export interface WrapContext {
  readonly orgId: string;
  readonly purpose: KeyPurpose;
  readonly version: number;
}

/**
 * A key-encryption key held outside the database. Implementations: a local key (from
 * `WARD_MASTER_KEY` or a key file) and a PKCS#11 token key; a KMS or Vault Transit adapter
 * implements the same three members.
 */
export interface KekProvider {
  /** Stable identifier stored next to each wrapped key (`kek_id`); never key material. */
  readonly id: string;
  readonly kind: 'env' | 'file' | 'pkcs11';
  /** True for the generated development key, which must never protect real PHI. */
  readonly development: boolean;
  /** Wraps a 32-byte key, binding it to `ctx`. */
  wrap(key: Buffer, ctx: WrapContext): Promise<Buffer>;
  /** Unwraps a key wrapped for `ctx`; throws `kek_unavailable` when it does not authenticate. */
  unwrap(wrapped: Buffer, ctx: WrapContext): Promise<Buffer>;
}

/** The KEK used for new wrapping plus older ones still accepted for unwrapping (KEK rotation). */
export interface KekSet {
  readonly current: KekProvider;
  readonly previous: readonly KekProvider[];
}

/** The bytes every provider binds a wrapped key to. */
export function wrapAad(kekId: string, ctx: WrapContext): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(ctx.version);
  return Buffer.concat([
    Buffer.from(`ward.wrap.v1\0${kekId}\0${ctx.purpose}\0`, 'utf8'),
    uuidBytes(ctx.orgId),
    version,
  ]);
}
