import type { Database, Tx } from '../../platform/db/index.ts';
import type { Logger } from '../../platform/log.ts';
import type { SecurityEvent, SecurityEventDelivery } from '../crypto/index.ts';
import { insertEvent, recordDetached, type AuditEventInput } from './record.ts';

/** The audit event for a crypto security event (identifiers only, never values or keys). */
export function securityAuditEvent(e: SecurityEvent): {
  orgId: string | undefined;
  event: AuditEventInput;
} {
  switch (e.type) {
    case 'crypto.decrypt_failed':
      return {
        orgId: e.orgId,
        event: {
          action: 'R',
          eventType: e.type,
          outcome: '8',
          outcomeReason: 'authentication_failed',
          actorType: 'system',
          entityType: e.table,
          entityId: e.rowId,
          metadata: { column: e.column, keyVersion: e.keyVersion },
        },
      };
    case 'crypto.keys_shredded':
      return {
        orgId: e.orgId,
        event: {
          action: 'D',
          eventType: e.type,
          actorType: 'system',
          metadata: {
            versions: [...e.versions],
            reason: e.reason,
            ...(e.plaintextErased ? { plaintextErased: e.plaintextErased } : {}),
          },
        },
      };
    case 'crypto.key_rotated':
    case 'crypto.key_retired':
      return {
        orgId: e.orgId,
        event: {
          action: 'U',
          eventType: e.type,
          actorType: 'system',
          metadata: { version: e.version },
        },
      };
    case 'crypto.reindex_completed':
      return {
        orgId: e.orgId,
        event: {
          action: 'U',
          eventType: e.type,
          actorType: 'system',
          metadata: { columns: [...e.columns], normalization: e.normalization },
        },
      };
    case 'crypto.kek_rotated':
      return {
        orgId: undefined,
        event: {
          action: 'U',
          eventType: e.type,
          actorType: 'system',
          metadata: {
            kekId: e.kekId,
            previousKekIds: [...e.previousKekIds],
            rewrapped: e.rewrapped,
          },
        },
      };
  }
}

/**
 * Records crypto security events in the audit trail: those an operation records in its own
 * transaction through `record` (a shred), and the others each in a transaction of its own
 * (a failed decryption's own transaction rolls back). The write is queued, not awaited by the emitter:
 * the emitter may be inside a transaction, and the embedded engine runs one at a time. Call
 * `drain()` before closing the database so no queued event is lost.
 */
export function createSecurityRecorder(db: Database, logger: Logger) {
  const pending = new Set<Promise<unknown>>();
  return {
    /**
     * Writes the event inside `tx`, the transaction of the operation it records (a shred),
     * so both commit or neither does. The transaction must be that organization's.
     */
    async record(tx: Tx, e: SecurityEvent): Promise<void> {
      const { orgId, event } = securityAuditEvent(e);
      const r = await tx.query<{ org: string | null }>('select ward.current_org_id()::text as org');
      if ((r.rows[0]?.org ?? undefined) !== orgId) {
        throw new Error(`a ${e.type} event must be recorded in its organization's transaction`);
      }
      await insertEvent(tx, event);
    },
    /** Records the event in its own transaction, unless it was already recorded in its own. */
    handle(e: SecurityEvent, delivery?: SecurityEventDelivery): void {
      if (delivery?.recorded) return;
      const { orgId, event } = securityAuditEvent(e);
      const write: Promise<unknown> = recordDetached(
        db,
        orgId ? { orgId, actorType: 'system' } : undefined,
        event,
      )
        .catch((err: unknown) => {
          logger.error(
            { err, event: e.type },
            'could not record a security event in the audit trail',
          );
        })
        .finally(() => pending.delete(write));
      pending.add(write);
    },
    async drain(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
