import type { Queryable } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import { computeBlindIndex, deriveIndexKey } from './blind-index.ts';
import { fieldKeyVersion, openField, sealField, type FieldPlace } from './field-format.ts';
import type { Keyring } from './keyring.ts';
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
 */
export class FieldCodec {
  readonly #keyring: Keyring;
  readonly #events: SecurityEvents;

  constructor(keyring: Keyring, events: SecurityEvents) {
    this.#keyring = keyring;
    this.#events = events;
  }

  /**
   * Encrypts one value for its place under the organization's primary key.
   * @example await codec.encrypt(tx, { orgId, table: 'ward.agent_policy_context', column: 'context_encrypted', rowId }, json)
   */
  encrypt(q: Queryable, place: FieldPlace, plaintext: string): Promise<Buffer> {
    return this.#keyring.withPrimary(q, place.orgId, (key, version) =>
      sealField(key, version, place, Buffer.from(plaintext, 'utf8')),
    );
  }

  /** Encrypts several fields of one row with one key lookup. */
  encryptRow<C extends string>(
    q: Queryable,
    row: RowPlace,
    fields: PlainFields<C>,
  ): Promise<SealedFields<C>> {
    return this.#keyring.withPrimary(q, row.orgId, (key, version) => {
      const out: Record<string, Buffer | null> = {};
      for (const [column, value] of Object.entries<string | null>(fields)) {
        out[column] =
          value === null
            ? null
            : sealField(key, version, { ...row, column }, Buffer.from(value, 'utf8'));
      }
      return out as SealedFields<C>;
    });
  }

  /**
   * Decrypts one stored value. A value that does not authenticate at this place (tampered,
   * or copied from another row, column or tenant) raises `decrypt_failed` naming the table,
   * column and row, and a `crypto.decrypt_failed` security event; no plaintext is returned.
   */
  async decrypt(q: Queryable, place: FieldPlace, stored: Buffer): Promise<string> {
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
    if (!opened) return this.#fail(place, version);
    const text = opened.toString('utf8');
    opened.fill(0);
    return text;
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
   * not listed are never decrypted, whatever `stored` holds.
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
      out[column] =
        v === null || v === undefined ? null : await this.decrypt(q, { ...row, column }, v);
    }
    return out as PlainFields<C>;
  }

  /**
   * The blind index of `value` for a registered index column of the organization, for both
   * storing and searching. Throws `invalid_phi_value` when the value cannot be normalized.
   */
  blindIndex(q: Queryable, orgId: string, index: BlindIndexColumn, value: string): Promise<Buffer> {
    return this.#keyring.withIndexRoot(q, orgId, (root) =>
      computeBlindIndex(
        deriveIndexKey(root, qualifiedColumn(index)),
        index.kind,
        value,
        index.bits,
      ),
    );
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
