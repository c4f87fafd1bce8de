import { randomBytes } from 'node:crypto';
import type { Database, Queryable, Tx } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { WrapContext } from '../crypto/kek/provider.ts';
import { sealLockKey } from './seal-lock.ts';
import {
  activateExternalSigningKey,
  findActiveSigningKey,
  insertActiveSigningKey,
  listSigningKeys,
  nextSigningKeyNo,
  retireActiveSigningKey,
  rewrapSigningKey,
  type SigningKeyRow,
} from './signing-keys-repo.ts';
import {
  keyIdFor,
  signerFromSeed,
  type CheckpointSigner,
  type SignerSource,
  type TrustedKey,
} from './signer.ts';
import { platformOrgId } from './vocabulary.ts';

/** A stored key the KEK does not vouch for, and why. */
export interface DistrustedKey {
  readonly keyId: string;
  readonly detail: string;
  /**
   * True when the KEK opened the row and it contradicts itself (tampering); false when the
   * configured KEK simply cannot open it (wrong or missing KEK: nothing is proven either way).
   */
  readonly altered: boolean;
}

/** The stored keys verification may trust, after the KEK has vouched for each one. */
export interface VouchedKeys {
  readonly trusted: TrustedKey[];
  readonly distrusted: DistrustedKey[];
  /** External keys (no private half in Ward): trusted only if given with --public-key. */
  readonly external: string[];
}

const wrapContext = (keyNo: number): WrapContext => ({
  orgId: platformOrgId,
  purpose: 'audit-signing',
  version: keyNo,
});

const job = (reason: string): { name: string; reason: string } => ({
  name: 'audit.signing-keys',
  reason,
});

/**
 * Custody of the audit checkpoint signing key (DESIGN.md section 5): the Ed25519 seed exists
 * in the database only wrapped by the KEK provider, bound to its key number; the signer is
 * unwrapped in memory when the sealer needs it, and refused when the unwrapped seed does not
 * give the stored public key. Exactly one key is active; rotation retires it, and retired
 * keys stay so that the checkpoints they signed keep verifying.
 */
export class SigningKeyCustody implements SignerSource {
  readonly #keyring: Keyring;
  #cached: CheckpointSigner | undefined;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
  }

  /**
   * The signer of the active key, generating the first key on first need. Runs in the
   * caller's transaction (the sealer's, which holds the sealing lock, so a rotation cannot
   * slip in between reading the active key and signing with it).
   */
  async signerFor(tx: Tx): Promise<CheckpointSigner> {
    let row = await findActiveSigningKey(tx);
    if (!row) {
      await this.#generate(tx);
      row = await findActiveSigningKey(tx);
      if (!row) throw new WardError('internal', 'no active audit signing key after generating one');
    }
    // Reused while the row still names the same key; an altered row is opened (and refused).
    if (this.#cached?.keyId === row.keyId && this.#cached.publicKey.equals(row.publicKey))
      return this.#cached;
    this.#cached = await this.#open(row);
    return this.#cached;
  }

  /** The active signer, in a system transaction of its own (server start, CLI). */
  async activeSigner(db: Database): Promise<CheckpointSigner> {
    return db.asSystem(job('loads (or creates) the audit signing key'), async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [sealLockKey]);
      return this.signerFor(tx);
    });
  }

  /**
   * Retires the active key and makes a new one active. Old checkpoints keep naming (and
   * verifying with) the retired key; every checkpoint sealed afterwards names the new one.
   */
  async rotate(db: Database): Promise<{ retired: string | undefined; active: string }> {
    const r = await db.asSystem(job('rotates the audit signing key'), async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [sealLockKey]);
      const retired = await retireActiveSigningKey(tx);
      const active = await this.#generate(tx);
      return { retired, active };
    });
    this.#cached = undefined;
    return r;
  }

  /**
   * Imports an existing seed (the explicit path for WARD_AUDIT_SIGNING_KEY deployments): it is
   * wrapped under the current KEK and becomes the active key; a key that was recorded as
   * external (it signed before custody existed) gains its private half.
   */
  async importSeed(db: Database, seed: Buffer): Promise<{ keyId: string; retired?: string }> {
    const signer = signerFromSeed(seed);
    const kek = this.#keyring.kek.current;
    const r = await db.asSystem(job('imports an audit signing key'), async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [sealLockKey]);
      const known = (await listSigningKeys(tx)).find((k) => k.keyId === signer.keyId);
      if (known && known.status !== 'external') {
        throw new WardError(
          'conflict',
          `Audit signing key ${signer.keyId} is already held (status ${known.status})`,
        );
      }
      const retired = await retireActiveSigningKey(tx);
      const keyNo = known?.keyNo ?? (await nextSigningKeyNo(tx));
      const wrapped = await kek.wrap(Buffer.from(seed), wrapContext(keyNo));
      const done = known
        ? await activateExternalSigningKey(tx, signer.keyId, wrapped, kek.id)
        : await insertActiveSigningKey(tx, {
            keyId: signer.keyId,
            keyNo,
            publicKey: signer.publicKey,
            wrapped,
            kekId: kek.id,
          });
      if (!done) throw new WardError('conflict', 'The audit signing keys changed concurrently');
      return { keyId: signer.keyId, ...(retired ? { retired } : {}) };
    });
    this.#cached = undefined;
    return r;
  }

  /**
   * KEK rotation: re-wraps every signing key held under a previous KEK with the current one
   * (compare-and-swap per key). Returns how many were re-wrapped.
   */
  async rewrap(db: Database): Promise<number> {
    const kek = this.#keyring.kek.current;
    const rows = await db.asSystem(job('lists audit signing keys under an old KEK'), (tx) =>
      listSigningKeys(tx),
    );
    let n = 0;
    for (const row of rows) {
      if (!row.wrappedPrivateKey || !row.kekId || row.kekId === kek.id) continue;
      const seed = await this.#unwrap(row);
      try {
        const wrapped = await kek.wrap(seed, wrapContext(row.keyNo));
        const swapped = await db.asSystem(
          job('re-wraps an audit signing key under the new KEK'),
          (tx) => rewrapSigningKey(tx, row.keyId, row.wrappedPrivateKey as Buffer, wrapped, kek.id),
        );
        if (swapped) n++;
      } finally {
        seed.fill(0);
      }
    }
    this.#cached = undefined;
    return n;
  }

  /**
   * Which stored public keys verification may trust: a key is vouched for only when the KEK
   * unwraps its private half and that gives exactly the stored public key and key id. A key
   * whose row was altered (public key swapped, wrapped key replaced) is reported instead.
   */
  async vouchedKeys(q: Queryable): Promise<VouchedKeys> {
    const out: VouchedKeys = { trusted: [], distrusted: [], external: [] };
    for (const row of await listSigningKeys(q)) {
      if (row.status === 'external') {
        out.external.push(row.keyId);
        continue;
      }
      try {
        const signer = signerFromSeed(await this.#unwrap(row));
        const problem = mismatch(row, signer);
        if (problem) out.distrusted.push({ keyId: row.keyId, detail: problem, altered: true });
        else out.trusted.push({ keyId: row.keyId, publicKey: signer.publicKey });
      } catch (e) {
        if (!isWardError(e, 'kek_unavailable')) throw e;
        // A KEK we hold (its id names the key material) that cannot open the row means the
        // wrapped key or its number was changed; a KEK we do not hold proves nothing.
        const kek = this.#keyring.kek;
        const held = [kek.current, ...kek.previous].some((k) => k.id === row.kekId);
        out.distrusted.push({ keyId: row.keyId, detail: e.message, altered: held });
      }
    }
    return out;
  }

  async #generate(tx: Tx): Promise<string> {
    const kek = this.#keyring.kek.current;
    const seed = randomBytes(32);
    try {
      const signer = signerFromSeed(seed);
      const keyNo = await nextSigningKeyNo(tx);
      const wrapped = await kek.wrap(seed, wrapContext(keyNo));
      const inserted = await insertActiveSigningKey(tx, {
        keyId: signer.keyId,
        keyNo,
        publicKey: signer.publicKey,
        wrapped,
        kekId: kek.id,
      });
      if (!inserted) throw new WardError('conflict', 'Another audit signing key is already active');
      return signer.keyId;
    } finally {
      seed.fill(0);
    }
  }

  async #open(row: SigningKeyRow): Promise<CheckpointSigner> {
    const seed = await this.#unwrap(row);
    try {
      const signer = signerFromSeed(seed);
      const problem = mismatch(row, signer);
      if (problem) throw new WardError('audit_integrity_failed', problem, { keyId: row.keyId });
      return signer;
    } finally {
      seed.fill(0);
    }
  }

  /** Unwraps a key's seed; a wrong or missing KEK is refused with a message naming both. */
  async #unwrap(row: SigningKeyRow): Promise<Buffer> {
    if (!row.wrappedPrivateKey || !row.kekId) {
      throw new WardError(
        'kek_unavailable',
        `Audit signing key ${row.keyId} has no private key in Ward's custody`,
      );
    }
    try {
      return await this.#keyring
        .providerFor(row.kekId)
        .unwrap(row.wrappedPrivateKey, wrapContext(row.keyNo));
    } catch (e) {
      if (!isWardError(e, 'kek_unavailable')) throw e;
      throw new WardError(
        'kek_unavailable',
        `The audit signing key ${row.keyId} cannot be unwrapped, so no checkpoint will be signed: ${e.message}`,
        { keyId: row.keyId },
        { cause: e },
      );
    }
  }
}

function mismatch(row: SigningKeyRow, signer: CheckpointSigner): string | undefined {
  if (!signer.publicKey.equals(row.publicKey) || signer.keyId !== row.keyId) {
    return `audit signing key ${row.keyId}: the stored public key does not belong to its private key (the row was altered)`;
  }
  if (keyIdFor(row.publicKey) !== row.keyId) {
    return `audit signing key ${row.keyId}: the key id does not match the stored public key`;
  }
  return undefined;
}
