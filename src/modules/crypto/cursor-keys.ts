import { randomBytes } from 'node:crypto';
import type { Database } from '../../platform/db/index.ts';
import { WardError, isWardError, pgCode } from '../../platform/errors.ts';
import type { CursorKeyVersion } from '../../platform/http/pagination.ts';
import type { Keyring } from './keyring.ts';
import type { WrapContext } from './kek/provider.ts';
import {
  insertFirstCursorKey,
  insertNextCursorKey,
  latestCursorKeyVersion,
  listAcceptedCursorKeys,
  listCursorKeys,
  rewrapCursorKey,
  type CursorKeyRow,
} from './cursor-keys-repo.ts';

// Platform-level keys are bound to the all-zero organization, like the audit signing key.
const platformOrg = '00000000-0000-0000-0000-000000000000';

const wrapContext = (version: number): WrapContext => ({
  orgId: platformOrg,
  purpose: 'cursor',
  version,
});

const job = (reason: string): { name: string; reason: string } => ({
  name: 'crypto.cursor-keys',
  reason,
});

/**
 * How often a server re-reads the stored versions (`ward serve` job), and how far ahead of its
 * activation a rotation announces a new version on PostgreSQL: three refreshes, so every
 * server has loaded the version (a refresh may fail once) before any encodes with it.
 */
export const cursorKeyRefreshMs = 5 * 60_000;
export const cursorKeyAnnounceMs = 3 * cursorKeyRefreshMs;

/** How long cursors of the superseded versions stay valid after a rotation takes effect. */
export const defaultCursorKeyGraceMs = 60 * 60_000;

/** What a rotation did, in epoch milliseconds. */
export interface CursorKeyRotation {
  readonly version: number;
  readonly activeFrom: number;
  /** Cursors of every earlier version are invalid_cursor from then on. */
  readonly previousAcceptedUntil: number;
}

/**
 * Custody of the pagination cursor key (docs/decisions/2026-12-04-signed-cursors.md): random
 * 256-bit keys in numbered versions, stored in ward.cursor_keys only wrapped by the KEK and
 * bound to their version, unwrapped into the server's memory. The first version is created by
 * the first server that starts; a rotation adds the next one.
 */
export class CursorKeyCustody {
  readonly #keyring: Keyring;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
  }

  /**
   * The versions a server installs (`useCursorKeys`): every stored version still accepted,
   * unwrapped; creates version 1 when none exists. A KEK that cannot unwrap one is refused with
   * `kek_unavailable`, so a server never starts with cursors it could not check.
   */
  async load(db: Database): Promise<CursorKeyVersion[]> {
    let rows = await db.asSystem(job('loads the pagination cursor keys'), listAcceptedCursorKeys);
    if (rows.length === 0) {
      rows = await db.asSystem(job('creates the first pagination cursor key'), async (tx) => {
        const kek = this.#keyring.kek.current;
        const key = randomBytes(32);
        try {
          await insertFirstCursorKey(tx, await kek.wrap(key, wrapContext(1)), kek.id);
        } finally {
          key.fill(0);
        }
        // Ours, or the one a server starting at the same time committed first.
        return listAcceptedCursorKeys(tx);
      });
    }
    const out: CursorKeyVersion[] = [];
    for (const row of rows) {
      out.push({
        version: row.version,
        key: await this.#unwrap(row),
        activeFrom: row.activeFrom,
        acceptedUntil: row.acceptedUntil ?? undefined,
      });
    }
    return out;
  }

  /**
   * Adds the next version, which becomes the one new cursors are made with `activateAfterMs`
   * from now; cursors of every earlier version stay valid until `graceMs` after that (0: they
   * are refused from the moment the new version takes effect). Concurrent rotations cannot
   * both take the same version: the loser fails with `conflict`.
   */
  async rotate(
    db: Database,
    opts: { activateAfterMs: number; graceMs: number },
  ): Promise<CursorKeyRotation> {
    for (const [name, ms] of Object.entries(opts)) {
      if (!Number.isInteger(ms) || ms < 0)
        throw new WardError('bad_request', `${name} must be a whole number of milliseconds ≥ 0`);
    }
    const kek = this.#keyring.kek.current;
    try {
      return await db.asSystem(job('rotates the pagination cursor key'), async (tx) => {
        const version = (await latestCursorKeyVersion(tx)) + 1;
        const key = randomBytes(32);
        let wrapped: Buffer;
        try {
          wrapped = await kek.wrap(key, wrapContext(version));
        } finally {
          key.fill(0);
        }
        const r = await insertNextCursorKey(tx, { version, wrapped, kekId: kek.id, ...opts });
        return { version, ...r };
      });
    } catch (e) {
      if (pgCode(e) === '23505')
        throw new WardError('conflict', 'Another rotation of the cursor key ran at the same time');
      throw e;
    }
  }

  /**
   * KEK rotation: re-wraps every stored version held under a previous KEK with the current
   * one (compare-and-swap per version). Returns how many were re-wrapped.
   */
  async rewrap(db: Database): Promise<number> {
    const kek = this.#keyring.kek.current;
    const rows = await db.asSystem(job('lists cursor keys under an old KEK'), listCursorKeys);
    let n = 0;
    for (const row of rows) {
      if (row.kekId === kek.id) continue;
      const key = await this.#unwrap(row);
      try {
        const wrapped = await kek.wrap(key, wrapContext(row.version));
        const swapped = await db.asSystem(job('re-wraps a cursor key under the new KEK'), (tx) =>
          rewrapCursorKey(tx, row.version, row.wrappedKey, wrapped, kek.id),
        );
        if (swapped) n++;
      } finally {
        key.fill(0);
      }
    }
    return n;
  }

  async #unwrap(row: CursorKeyRow): Promise<Buffer> {
    try {
      return await this.#keyring.unwrap(row.wrappedKey, row.kekId, wrapContext(row.version));
    } catch (e) {
      if (!isWardError(e, 'kek_unavailable')) throw e;
      throw new WardError(
        'kek_unavailable',
        `The pagination cursor key (version ${row.version}) cannot be unwrapped: ${e.message}`,
        { version: row.version },
        { cause: e },
      );
    }
  }
}
