import { AsyncLocalStorage } from 'node:async_hooks';

/** Counts the audit events one HTTP request wrote, so the PHI guard can insist on one. */
export interface AuditTracker {
  /** Events written in a request transaction (they commit or roll back with it). */
  recorded: number;
  /** Events written in their own transaction (denials and failures). */
  detached: number;
}

const storage = new AsyncLocalStorage<AuditTracker>();

/** Runs `fn` with `tracker` as the current request's tracker (async-context scoped). */
export function runTracked<T>(tracker: AuditTracker, fn: () => Promise<T>): Promise<T> {
  return storage.run(tracker, fn);
}

/** Notes that an event was written for the current request, if one is being tracked. */
export function noteRecorded(kind: 'recorded' | 'detached'): void {
  const t = storage.getStore();
  if (t) t[kind] += 1;
}

/** The tracker of the current async context, if any. */
export function currentTracker(): AuditTracker | undefined {
  return storage.getStore();
}
