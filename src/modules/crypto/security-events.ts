import type { Tx } from '../../platform/db/index.ts';

/**
 * Security-relevant events of the crypto module. The audit module subscribes through
 * `WardCrypto.onSecurityEvent` and records them; until then they are logged. Events carry
 * identifiers and counts only, never values or key material.
 */
export type SecurityEvent =
  | {
      readonly type: 'crypto.decrypt_failed';
      readonly orgId: string;
      readonly table: string;
      readonly column: string;
      readonly rowId: string;
      readonly keyVersion: number | null;
    }
  | {
      readonly type: 'crypto.keys_shredded';
      readonly orgId: string;
      readonly versions: readonly number[];
      readonly reason: string;
      /** Legacy plaintext values the shred erased (absent when there were none). */
      readonly plaintextErased?: number;
    }
  | { readonly type: 'crypto.key_rotated'; readonly orgId: string; readonly version: number }
  | { readonly type: 'crypto.key_retired'; readonly orgId: string; readonly version: number }
  | {
      readonly type: 'crypto.reindex_completed';
      readonly orgId: string;
      /** The blind-index columns (schema.table.column) whose every index is now in `normalization`. */
      readonly columns: readonly string[];
      readonly normalization: number;
    }
  | {
      readonly type: 'crypto.kek_rotated';
      readonly kekId: string;
      /** The KEKs the re-wrapped keys were under before: the ones being retired. */
      readonly previousKekIds: readonly string[];
      readonly rewrapped: number;
    };

/** How an event reaches the handlers. */
export interface SecurityEventDelivery {
  /** Already written by a recorder inside the transaction it describes (`recordIn`). */
  readonly recorded: boolean;
}

/** Receives security events; awaited, so an audit write can complete before the caller goes on. */
export type SecurityEventHandler = (
  event: SecurityEvent,
  delivery: SecurityEventDelivery,
) => void | Promise<void>;

/**
 * Writes a security event inside the transaction that does what it records (the audit
 * module's hook); a failure is thrown, so that transaction rolls back with it.
 */
export type SecurityEventRecorder = (tx: Tx, event: SecurityEvent) => Promise<void>;

/** A fan-out of security events to every registered handler; a failing handler is reported. */
export class SecurityEvents {
  readonly #handlers: SecurityEventHandler[] = [];
  readonly #recorders: SecurityEventRecorder[] = [];
  readonly #onHandlerError: (e: unknown, event: SecurityEvent) => void;

  constructor(onHandlerError: (e: unknown, event: SecurityEvent) => void) {
    this.#onHandlerError = onHandlerError;
  }

  /** Registers a handler (the audit module's recorder). */
  on(handler: SecurityEventHandler): void {
    this.#handlers.push(handler);
  }

  /** Registers a recorder that writes events inside their own transaction (the audit module's). */
  onRecord(recorder: SecurityEventRecorder): void {
    this.#recorders.push(recorder);
  }

  /**
   * Records `event` in `tx` through every recorder, for operations whose record must commit
   * with them (a shred). Errors are not caught: the caller's transaction fails with them.
   * @returns whether any recorder wrote it (pass that to `emit` after the commit)
   */
  async recordIn(tx: Tx, event: SecurityEvent): Promise<boolean> {
    for (const r of this.#recorders) await r(tx, event);
    return this.#recorders.length > 0;
  }

  /** Delivers `event` to every handler in registration order. */
  async emit(
    event: SecurityEvent,
    delivery: SecurityEventDelivery = { recorded: false },
  ): Promise<void> {
    for (const h of this.#handlers) {
      try {
        await h(event, delivery);
      } catch (e) {
        this.#onHandlerError(e, event);
      }
    }
  }
}
