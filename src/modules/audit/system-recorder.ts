import type { SystemAccessRecorder } from '../../platform/db/index.ts';
import { detachedRecordJob, insertEvent } from './record.ts';

/**
 * The recorder wired into `Database.onSystemAccess`: every RLS bypass writes an audit event
 * in the bypassing transaction itself, so the bypass and its record commit together. The one
 * exception is the detached write of an audit event without a tenant, whose event is itself
 * the record. It does not count towards a request's PHI guard: a bypass is not the
 * request's own account of the PHI it touched.
 */
export const recordSystemAccess: SystemAccessRecorder = async (tx, job) => {
  if (job.name === detachedRecordJob) return;
  await insertEvent(tx, {
    action: 'E',
    eventType: 'system.access',
    entityType: 'SystemJob',
    entityId: job.name,
    purposeOfUse: 'HSYSADMIN',
    actorType: 'system',
    metadata: { job: job.name, reason: job.reason },
  });
};
