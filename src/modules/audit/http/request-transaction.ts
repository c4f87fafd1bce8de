import type { FastifyRequest } from 'fastify';
import type { Database, Tx } from '../../../platform/db/index.ts';
import { WardError } from '../../../platform/errors.ts';
import { requireContext } from '../../../platform/http/request-context.ts';
import { runTracked } from '../request-tracker.ts';

/**
 * Runs a route's work in one transaction under the caller's context. On a PHI route the work
 * must call `audit.record` inside it: if it did not, the transaction is rolled back and the
 * request fails with `audit_not_recorded` instead of succeeding silently.
 * @example return requestTransaction(req, db, async (tx) => { const p = await repo.get(tx, id); await record(tx, {...}); return p; })
 */
export async function requestTransaction<T>(
  req: FastifyRequest,
  db: Database,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const ctx = requireContext(req);
  const tracker = req.auditTracker ?? { recorded: 0, detached: 0 };
  return runTracked(tracker, () =>
    db.withContext(ctx, async (tx) => {
      const before = tracker.recorded;
      const result = await fn(tx);
      if (req.routeOptions.config.phi === true && tracker.recorded === before) {
        throw new WardError('audit_not_recorded');
      }
      return result;
    }),
  );
}
