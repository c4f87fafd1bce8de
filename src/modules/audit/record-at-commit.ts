import type { Tx } from '../../platform/db/index.ts';
import { insertEvent, type AuditEventInput, type RecordedEvent } from './record.ts';
import { noteRecorded } from './request-tracker.ts';

/**
 * Writes one audit event as the transaction's last statement, with COMMIT pipelined behind it
 * (`tx.queryAndCommit`): on PostgreSQL the event costs no round trip of its own. It resolves
 * only once both the insert and the commit succeeded, so an event that could not be written
 * leaves nothing committed (the insert's failure rolls the transaction back) and its error
 * reaches the caller. Only then is the event counted for the request. The transaction is over
 * afterwards: call it as the callback's last act, and only where nothing may follow.
 */
export async function recordAndCommit(tx: Tx, event: AuditEventInput): Promise<RecordedEvent> {
  // The same statement `record` runs, sent through the committing call.
  const last: Tx = {
    engine: tx.engine,
    query: <R>(text: string, params?: readonly unknown[]) => tx.queryAndCommit<R>(text, params),
    queryAndCommit: <R>(text: string, params?: readonly unknown[]) =>
      tx.queryAndCommit<R>(text, params),
    exec: () => Promise.reject(new Error('recordAndCommit runs one statement')),
  };
  const r = await insertEvent(last, event);
  noteRecorded('recorded');
  return r;
}
