import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../platform/db/index.ts';
import type { FieldCodec } from '../crypto/index.ts';
import { base32Decode, base32Encode } from './totp.ts';

/** Table and column of the encrypted TOTP secret (registered in the encrypted-column inventory). */
export const totpSecretPlace = { table: 'ward.mfa_factors', column: 'secret_encrypted' } as const;

/** A user's TOTP factor with its secret decrypted, for verification only. */
export interface TotpFactor {
  readonly id: string;
  readonly secret: Buffer;
  readonly confirmed: boolean;
  readonly lastUsedStep: bigint | null;
}

/** Reads and decrypts a user's TOTP factor. */
export async function findTotpFactor(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  userId: string,
): Promise<TotpFactor | undefined> {
  const r = await q.query<{
    id: string;
    secret_encrypted: Buffer;
    confirmed_at: Date | null;
    last_used_step: string | number | null;
  }>(
    `select id, secret_encrypted, confirmed_at, last_used_step from ward.mfa_factors
      where user_id = $1 and kind = 'totp' for update`,
    [userId],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const secret = base32Decode(
    await codec.decrypt(q, { orgId, ...totpSecretPlace, rowId: row.id }, row.secret_encrypted),
  );
  return {
    id: row.id,
    secret,
    confirmed: row.confirmed_at !== null,
    lastUsedStep: row.last_used_step === null ? null : BigInt(row.last_used_step),
  };
}

/** Stores a new, unconfirmed TOTP factor (replacing an unconfirmed one). */
export async function insertTotpFactor(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  userId: string,
  secret: Buffer,
): Promise<string> {
  await q.query(
    `delete from ward.mfa_factors where user_id = $1 and kind = 'totp' and confirmed_at is null`,
    [userId],
  );
  const id = randomUUID();
  const sealed = await codec.encrypt(
    q,
    { orgId, ...totpSecretPlace, rowId: id },
    base32Encode(secret),
  );
  await q.query(
    `insert into ward.mfa_factors (organization_id, id, user_id, kind, secret_encrypted) values ($1, $2, $3, 'totp', $4)`,
    [orgId, id, userId, sealed],
  );
  return id;
}

/** Records the accepted time step (single use) and, the first time, the confirmation. */
export async function useTotpStep(q: Queryable, factorId: string, step: bigint): Promise<void> {
  await q.query(
    `update ward.mfa_factors set last_used_step = $2, confirmed_at = coalesce(confirmed_at, now()) where id = $1`,
    [factorId, step.toString()],
  );
}

/** Deletes a user's factor and recovery codes. */
export async function deleteMfa(q: Queryable, userId: string): Promise<void> {
  await q.query('delete from ward.mfa_factors where user_id = $1', [userId]);
  await q.query('delete from ward.recovery_codes where user_id = $1', [userId]);
}

/** Replaces a user's recovery codes with new keyed hashes (`codec.recoveryCodeHash`). */
export async function replaceRecoveryCodes(
  q: Queryable,
  orgId: string,
  userId: string,
  hashes: readonly Buffer[],
): Promise<void> {
  await q.query('delete from ward.recovery_codes where user_id = $1', [userId]);
  await q.query(
    `insert into ward.recovery_codes (organization_id, user_id, code_hash, hash_scheme)
     select $1, $2, h, 'hmac-v1' from unnest($3::bytea[]) as h`,
    [orgId, userId, hashes],
  );
}

/**
 * Consumes an unused recovery code: a keyed row matching `keyed`, or a row stored before
 * migration 0021 matching the plain `digest`; returns whether one was consumed.
 */
export async function consumeRecoveryCode(
  q: Queryable,
  userId: string,
  keyed: Buffer,
  digest: Buffer,
): Promise<boolean> {
  const r = await q.query(
    `update ward.recovery_codes set used_at = now()
      where user_id = $1 and used_at is null
        and ((hash_scheme = 'hmac-v1' and code_hash = $2) or (hash_scheme = 'sha256' and code_hash = $3))`,
    [userId, keyed, digest],
  );
  return r.rowCount > 0;
}

/** The user's unused recovery codes still stored as plain SHA-256. */
export async function legacyRecoveryCodes(
  q: Queryable,
  userId: string,
): Promise<{ id: string; codeHash: Buffer }[]> {
  const r = await q.query<{ id: string; code_hash: Buffer }>(
    `select id, code_hash from ward.recovery_codes
      where user_id = $1 and hash_scheme = 'sha256' and used_at is null`,
    [userId],
  );
  return r.rows.map((x) => ({ id: x.id, codeHash: x.code_hash }));
}

/** Replaces one plain SHA-256 code hash by its keyed form (unless it changed meanwhile). */
export async function upgradeRecoveryCode(
  q: Queryable,
  id: string,
  digest: Buffer,
  keyed: Buffer,
): Promise<void> {
  await q.query(
    `update ward.recovery_codes set code_hash = $3, hash_scheme = 'hmac-v1'
      where id = $1 and hash_scheme = 'sha256' and code_hash = $2`,
    [id, digest, keyed],
  );
}

/** How many unused recovery codes remain. */
export async function remainingRecoveryCodes(q: Queryable, userId: string): Promise<number> {
  const r = await q.query<{ n: number }>(
    'select count(*)::int as n from ward.recovery_codes where user_id = $1 and used_at is null',
    [userId],
  );
  return r.rows[0]?.n ?? 0;
}

/**
 * Marks a factor confirmed without a code. Only for factors an operator provisions and hands
 * over out of band (the demo's admin); a user's own enrollment is confirmed by `useTotpStep`.
 */
export async function confirmProvisionedFactor(q: Queryable, factorId: string): Promise<void> {
  await q.query('update ward.mfa_factors set confirmed_at = now() where id = $1', [factorId]);
}
