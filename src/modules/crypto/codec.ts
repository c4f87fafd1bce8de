import { createHmac } from 'node:crypto';
import type { Queryable } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import { computeBlindIndex, hashNormalized } from './blind-index.ts';
import { IndexFloors } from './index-floors.ts';
import { normalizeForIndex, searchVersions, tryNormalize } from './normalize.ts';
import { fieldKeyVersion, openField, sealField, type FieldPlace } from './field-format.ts';
import { keyMiss, type Keyring } from './keyring.ts';
import { qualifiedColumn, type BlindIndexColumn } from './registry.ts';
import type { SecurityEvents } from './security-events.ts';

/** A row's identity, shared by all of its fields. */
export interface RowPlace {
  readonly orgId: string;
  /** Schema-qualified table, e.g. `clinical.patients`. */
  readonly table: string;
  readonly rowId: string;
}

/** Plaintext field values by column; null stays null (an absent optional field). */
export type PlainFields<C extends string> = { readonly [K in C]: string | null };
/** Stored field values by column. */
export type SealedFields<C extends string> = { readonly [K in C]: Buffer | null };

/**
 * The one way modules encrypt and decrypt PHI. Repositories call it with the row's place;
 * nothing outside this module touches a cipher. Strings are encrypted as UTF-8 (JSON values
 * are stringified by the caller, dates passed as YYYY-MM-DD).
 *
 * Keys come from the keyring's cache synchronously when they are there (the common case), so a
 * row costs one promise rather than one await per field; only a cache miss goes to the database.
 */
export class FieldCodec {
  readonly #keyring: Keyring;
  readonly #events: SecurityEvents;
  readonly #floors: IndexFloors;

  constructor(keyring: Keyring, events: SecurityEvents, floors: IndexFloors = new IndexFloors()) {
    this.#keyring = keyring;
    this.#events = events;
    this.#floors = floors;
  }

  /**
   * Encrypts one value for its place under the organization's primary key.
   * @example await codec.encrypt(tx, { orgId, table: 'ward.agent_policy_context', column: 'context_encrypted', rowId }, json)
   */
  async encrypt(q: Queryable, place: FieldPlace, plaintext: string): Promise<Buffer> {
    const seal = (key: Buffer, version: number) =>
      sealField(key, version, place, Buffer.from(plaintext, 'utf8'));
    const hit = this.#keyring.cachedPrimary(place.orgId, seal);
    return hit !== keyMiss ? hit : this.#keyring.withPrimary(q, place.orgId, seal);
  }

  /** Encrypts several fields of one row with one key lookup. */
  async encryptRow<C extends string>(
    q: Queryable,
    row: RowPlace,
    fields: PlainFields<C>,
  ): Promise<SealedFields<C>> {
    const seal = (key: Buffer, version: number): SealedFields<C> => {
      const out: Record<string, Buffer | null> = {};
      for (const column of Object.keys(fields) as C[]) {
        const value: string | null = fields[column];
        out[column] =
          value === null
            ? null
            : sealField(
                key,
                version,
                { orgId: row.orgId, table: row.table, column, rowId: row.rowId },
                Buffer.from(value, 'utf8'),
              );
      }
      return out as SealedFields<C>;
    };
    const hit = this.#keyring.cachedPrimary(row.orgId, seal);
    return hit !== keyMiss ? hit : this.#keyring.withPrimary(q, row.orgId, seal);
  }

  /**
   * Decrypts one stored value. A value that does not authenticate at this place (tampered,
   * or copied from another row, column or tenant) raises `decrypt_failed` naming the table,
   * column and row, and a `crypto.decrypt_failed` security event; no plaintext is returned.
   */
  async decrypt(q: Queryable, place: FieldPlace, stored: Buffer): Promise<string> {
    const version = fieldKeyVersion(stored);
    if (version === undefined) return this.#fail(place, null);
    const open = (key: Buffer) => openField(key, place, stored);
    let opened = this.#keyring.cachedVersion(place.orgId, version, open);
    if (opened === keyMiss) {
      try {
        opened = await this.#keyring.withVersion(q, place.orgId, version, open);
      } catch (e) {
        if (isWardError(e, 'key_not_found')) return this.#fail(place, version);
        throw e;
      }
    }
    if (!opened) return this.#fail(place, version);
    return toText(opened);
  }

  /**
   * Seals a binary secret (an object's content key) for its place under the organization's
   * primary key: stored like any field, so rewrap, `keys status` and retire account for it.
   */
  encryptKey(q: Queryable, place: FieldPlace, secret: Buffer): Promise<Buffer> {
    return this.#keyring.withPrimary(q, place.orgId, (key, version) =>
      sealField(key, version, place, secret),
    );
  }

  /**
   * Opens a secret sealed by `encryptKey`; the caller owns (and zeroes) the returned buffer.
   * Fails like `decrypt` (`decrypt_failed` and a security event) when it does not authenticate.
   */
  async decryptKey(q: Queryable, place: FieldPlace, stored: Buffer): Promise<Buffer> {
    const version = fieldKeyVersion(stored);
    if (version === undefined) return this.#fail(place, null);
    let opened: Buffer | undefined;
    try {
      opened = await this.#keyring.withVersion(q, place.orgId, version, (key) =>
        openField(key, place, stored),
      );
    } catch (e) {
      if (isWardError(e, 'key_not_found')) return this.#fail(place, version);
      throw e;
    }
    return opened ?? this.#fail(place, version);
  }

  /** Reports a stored object that failed authentication (a `crypto.decrypt_failed` event). */
  async reportObjectFailure(place: FieldPlace, keyVersion: number | null): Promise<void> {
    await this.#events.emit({ type: 'crypto.decrypt_failed', ...place, keyVersion });
  }

  /**
   * Decrypts only `columns` of a row: the fields the caller may see and asked for. Columns
   * not listed are never decrypted, whatever `stored` holds. Fields whose key is cached are
   * opened synchronously; any other field (or one that fails) takes the `decrypt` path.
   */
  async decryptRow<C extends string>(
    q: Queryable,
    row: RowPlace,
    stored: Readonly<Record<string, Buffer | null>>,
    columns: readonly C[],
  ): Promise<PlainFields<C>> {
    const out: Record<string, string | null> = {};
    for (const column of columns) {
      const v = stored[column];
      if (v === null || v === undefined) {
        out[column] = null;
        continue;
      }
      const place = { orgId: row.orgId, table: row.table, column, rowId: row.rowId };
      const version = fieldKeyVersion(v);
      const opened =
        version === undefined
          ? undefined
          : this.#keyring.cachedVersion(row.orgId, version, (key) => openField(key, place, v));
      out[column] =
        opened === undefined || opened === keyMiss
          ? await this.decrypt(q, place, v)
          : toText(opened);
    }
    return out as PlainFields<C>;
  }

  /**
   * The blind index of `value` for a registered index column of the organization, for both
   * storing and searching. Throws `invalid_phi_value` when the value cannot be normalized.
   */
  async blindIndex(
    q: Queryable,
    orgId: string,
    index: BlindIndexColumn,
    value: string,
  ): Promise<Buffer> {
    const column = qualifiedColumn(index);
    const compute = (key: Buffer) => computeBlindIndex(key, index.kind, value, index.bits);
    const hit = this.#keyring.cachedIndexKey(orgId, column, compute);
    return hit !== keyMiss ? hit : this.#keyring.withIndexKey(q, orgId, column, compute);
  }

  /**
   * The blind indexes a search for `value` must look up: the current form first, then each
   * older form that differs from it, for as long as the organization's column may still hold
   * indexes computed with older rules (until `ward keys reindex` records completion). Throws
   * `invalid_phi_value` when the current rules refuse the value.
   */
  async blindIndexSearch(
    q: Queryable,
    orgId: string,
    index: BlindIndexColumn,
    value: string,
  ): Promise<Buffer[]> {
    const column = qualifiedColumn(index);
    const forms = [normalizeForIndex(index.kind, value)];
    for (const v of searchVersions(index.kind, await this.#floors.floor(q, orgId, column))) {
      const form = tryNormalize(index.kind, value, v);
      if (form !== undefined && !forms.includes(form)) forms.push(form);
    }
    const compute = (key: Buffer) => forms.map((f) => hashNormalized(key, f, index.bits));
    const hit = this.#keyring.cachedIndexKey(orgId, column, compute);
    return hit !== keyMiss ? hit : this.#keyring.withIndexKey(q, orgId, column, compute);
  }

  /** Forgets the cached normalization floors of an organization (its reindex just completed). */
  forgetIndexFloors(orgId: string): void {
    this.#floors.forget(orgId);
  }

  /**
   * HMAC-SHA-256 of a request's canonical text under the organization's request-hash key, for
   * `ward.idempotency_keys.request_hash`: a body may carry PHI with few possible values (an
   * SSN), which a plain digest would give away to anyone who can read the table and try them.
   */
  async requestHash(q: Queryable, orgId: string, text: string): Promise<Buffer> {
    const compute = (key: Buffer) => createHmac('sha256', key).update(text, 'utf8').digest();
    const hit = this.#keyring.cachedRequestHashKey(orgId, compute);
    return hit !== keyMiss ? hit : this.#keyring.withRequestHashKey(q, orgId, compute);
  }

  /**
   * The stored form of an MFA recovery code: HMAC-SHA-256, under the organization's recovery-code
   * key, of the user id and the SHA-256 of the normalized code. Binding the user means one
   * guess tests one user's codes, never every user's at once; the key (from the KEK-wrapped
   * index root) means a copy of the database alone tests nothing. The inner SHA-256 is the
   * form codes were stored in before (migration 0021), so those rows can be upgraded in place.
   */
  async recoveryCodeHash(
    q: Queryable,
    orgId: string,
    userId: string,
    codeDigest: Buffer,
  ): Promise<Buffer> {
    const compute = (key: Buffer) =>
      createHmac('sha256', key)
        .update(`ward.recovery-code.v1\0${userId.toLowerCase()}\0`, 'utf8')
        .update(codeDigest)
        .digest();
    const hit = this.#keyring.cachedRecoveryCodeKey(orgId, compute);
    return hit !== keyMiss ? hit : this.#keyring.withRecoveryCodeKey(q, orgId, compute);
  }

  async #fail(place: FieldPlace, keyVersion: number | null): Promise<never> {
    await this.#events.emit({ type: 'crypto.decrypt_failed', ...place, keyVersion });
    throw new WardError(
      'decrypt_failed',
      `The encrypted value of ${place.table}.${place.column} for row ${place.rowId} failed authentication`,
      { table: place.table, column: place.column, rowId: place.rowId },
    );
  }
}

/** The UTF-8 text of an opened value; the plaintext buffer is zeroed once the string exists. */
function toText(opened: Buffer): string {
  const text = opened.toString('utf8');
  opened.fill(0);
  return text;
}
