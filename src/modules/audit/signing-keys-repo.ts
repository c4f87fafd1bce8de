import type { Queryable } from '../../platform/db/index.ts';

/** A row of audit.signing_keys as the system role reads it. */
export interface SigningKeyRow {
  readonly keyId: string;
  readonly keyNo: number;
  readonly publicKey: Buffer;
  readonly status: 'active' | 'retired' | 'external';
  /** The Ed25519 seed wrapped by the KEK provider; null for external keys. */
  readonly wrappedPrivateKey: Buffer | null;
  readonly kekId: string | null;
  readonly createdAt: string;
  readonly retiredAt: string | null;
}

const columns = `key_id as "keyId", key_no as "keyNo", public_key as "publicKey", status,
  wrapped_private_key as "wrappedPrivateKey", kek_id as "kekId",
  to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "createdAt",
  to_char(retired_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "retiredAt"`;

/** The key new checkpoints are signed with, if one exists. */
export async function findActiveSigningKey(q: Queryable): Promise<SigningKeyRow | undefined> {
  const r = await q.query<SigningKeyRow>(
    `select ${columns} from audit.signing_keys where status = 'active'`,
  );
  return r.rows[0];
}

/** Every signing key, oldest first. */
export async function listSigningKeys(q: Queryable): Promise<SigningKeyRow[]> {
  return (await q.query<SigningKeyRow>(`select ${columns} from audit.signing_keys order by key_no`))
    .rows;
}

/** The next key number (the wrap context needs it before the row exists). */
export async function nextSigningKeyNo(q: Queryable): Promise<number> {
  const r = await q.query<{ n: number }>(
    `select nextval(pg_get_serial_sequence('audit.signing_keys', 'key_no'))::int as n`,
  );
  return r.rows[0]?.n ?? 0;
}

/**
 * Inserts a key held by the KEK as the active one. Returns false when another key is already
 * active (the one-active index), so two processes generating a first key cannot both win.
 */
export async function insertActiveSigningKey(
  q: Queryable,
  k: { keyId: string; keyNo: number; publicKey: Buffer; wrapped: Buffer; kekId: string },
): Promise<boolean> {
  const r = await q.query(
    `insert into audit.signing_keys
       (key_id, key_no, algorithm, public_key, status, wrapped_private_key, kek_id)
     values ($1, $2, 'ed25519', $3, 'active', $4, $5)
     on conflict do nothing`,
    [k.keyId, k.keyNo, k.publicKey, k.wrapped, k.kekId],
  );
  return r.rowCount === 1;
}

/** Records a public key whose private half Ward does not hold (a signer handed in). */
export async function insertExternalSigningKey(
  q: Queryable,
  keyId: string,
  publicKey: Buffer,
): Promise<void> {
  await q.query(
    `insert into audit.signing_keys (key_id, algorithm, public_key) values ($1, 'ed25519', $2)
     on conflict (key_id) do nothing`,
    [keyId, publicKey],
  );
}

/** Retires the active key; returns its id, if there was one. */
export async function retireActiveSigningKey(q: Queryable): Promise<string | undefined> {
  const r = await q.query<{ key_id: string }>(
    `update audit.signing_keys set status = 'retired', retired_at = now()
      where status = 'active' returning key_id`,
  );
  return r.rows[0]?.key_id;
}

/** Gives an external key its wrapped private half and makes it the active key. */
export async function activateExternalSigningKey(
  q: Queryable,
  keyId: string,
  wrapped: Buffer,
  kekId: string,
): Promise<boolean> {
  const r = await q.query(
    `update audit.signing_keys set status = 'active', wrapped_private_key = $2, kek_id = $3
      where key_id = $1 and status = 'external'`,
    [keyId, wrapped, kekId],
  );
  return r.rowCount === 1;
}

/** Replaces a wrapped key if it still holds what was read (compare-and-swap). */
export async function rewrapSigningKey(
  q: Queryable,
  keyId: string,
  was: Buffer,
  wrapped: Buffer,
  kekId: string,
): Promise<boolean> {
  const r = await q.query(
    `update audit.signing_keys set wrapped_private_key = $3, kek_id = $4
      where key_id = $1 and wrapped_private_key = $2`,
    [keyId, was, wrapped, kekId],
  );
  return r.rowCount === 1;
}
