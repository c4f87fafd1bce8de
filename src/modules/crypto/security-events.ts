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
    }
  | { readonly type: 'crypto.key_rotated'; readonly orgId: string; readonly version: number }
  | { readonly type: 'crypto.key_retired'; readonly orgId: string; readonly version: number }
  | {
      readonly type: 'crypto.kek_rotated';
      readonly kekId: string;
      /** The KEKs the re-wrapped keys were under before: the ones being retired. */
      readonly previousKekIds: readonly string[];
      readonly rewrapped: number;
    };

/** Receives security events; awaited, so an audit write can complete before the caller goes on. */
export type SecurityEventHandler = (event: SecurityEvent) => void | Promise<void>;

/** A fan-out of security events to every registered handler; a failing handler is reported. */
export class SecurityEvents {
  readonly #handlers: SecurityEventHandler[] = [];
  readonly #onHandlerError: (e: unknown, event: SecurityEvent) => void;

  constructor(onHandlerError: (e: unknown, event: SecurityEvent) => void) {
    this.#onHandlerError = onHandlerError;
  }

  /** Registers a handler (the audit module's recorder). */
  on(handler: SecurityEventHandler): void {
    this.#handlers.push(handler);
  }

  /** Delivers `event` to every handler in registration order. */
  async emit(event: SecurityEvent): Promise<void> {
    for (const h of this.#handlers) {
      try {
        await h(event);
      } catch (e) {
        this.#onHandlerError(e, event);
      }
    }
  }
}
