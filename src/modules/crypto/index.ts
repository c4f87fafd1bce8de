import type { Database } from '../../platform/db/index.ts';
import type { Logger } from '../../platform/log.ts';
import { FieldCodec } from './codec.ts';
import { verifyKek } from './kek-admin.ts';
import { selectKek, type KekSelection } from './kek/select.ts';
import type { KekSet } from './kek/provider.ts';
import { Keyring, type KeyringOptions } from './keyring.ts';
import {
  SecurityEvents,
  type SecurityEventHandler,
  type SecurityEventRecorder,
} from './security-events.ts';
import './known-columns.ts';

/** The crypto module as the rest of Ward sees it. */
export interface WardCrypto {
  readonly keyring: Keyring;
  /** Encrypts, decrypts and blind-indexes PHI fields; the only cipher users outside this module. */
  readonly codec: FieldCodec;
  readonly events: SecurityEvents;
  /** Subscribes to security events (decrypt failures, rotation, shredding): the audit hook. */
  onSecurityEvent(handler: SecurityEventHandler): void;
  /** Registers the recorder that writes events such as a shred inside their own transaction. */
  recordSecurityEvents(recorder: SecurityEventRecorder): void;
  /** Refuses (throws `kek_unavailable`) when the KEK cannot unwrap the stored keys. */
  verify(db: Database): Promise<void>;
}

/**
 * Builds the crypto module around a KEK set. Security events are logged (identifiers only)
 * until the audit module registers its recorder with `onSecurityEvent`.
 */
export function createCrypto(kek: KekSet, logger: Logger, opts: KeyringOptions = {}): WardCrypto {
  const keyring = new Keyring(kek, opts);
  const events = new SecurityEvents((e, event) => {
    logger.error({ err: e, event: event.type }, 'security event handler failed');
  });
  events.on((event) => {
    logger.warn({ securityEvent: event }, event.type);
  });
  return {
    keyring,
    codec: new FieldCodec(keyring, events),
    events,
    onSecurityEvent: (h) => {
      events.on(h);
    },
    recordSecurityEvents: (r) => {
      events.onRecord(r);
    },
    verify: (db) => verifyKek(db, keyring),
  };
}

/** Selects the KEK from the environment (see kek/select.ts) and builds the crypto module. */
export function openCrypto(sel: KekSelection, logger: Logger): WardCrypto {
  return createCrypto(selectKek(sel), logger);
}

export { FieldCodec } from './codec.ts';
export type { FieldPlace } from './field-format.ts';
export type { RowPlace, PlainFields, SealedFields } from './codec.ts';
export { columnRegistry, ColumnRegistry, qualifiedColumn } from './registry.ts';
export type { EncryptedColumn, BlindIndexColumn, BlindIndexKind } from './registry.ts';
export { blindIndexBits, nameDobValue, normalizeForIndex } from './blind-index.ts';
export type {
  SecurityEvent,
  SecurityEventDelivery,
  SecurityEventHandler,
  SecurityEventRecorder,
} from './security-events.ts';
export type { KekProvider, KekSet } from './kek/provider.ts';
