import type { Database, RequestContext, Tx } from '../../platform/db/index.ts';
import { firstRow, isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { noteRecorded } from './request-tracker.ts';
import type { AuditAction, AuditOutcome } from './vocabulary.ts';

/**
 * One audit event as a caller describes it. Who, session, purpose and request id default to
 * the transaction's request context; override them only when the context does not know yet
 * (a failed login has no authenticated user, an agent acts on behalf of a user).
 */
export interface AuditEventInput {
  readonly action: AuditAction;
  /** Dotted, lower-case event type, e.g. `patient.read`, `auth.login`, `system.access`. */
  readonly eventType: string;
  readonly outcome?: AuditOutcome;
  /** Short machine reason for a failure, e.g. `forbidden`; never PHI. */
  readonly outcomeReason?: string;
  readonly entityType?: string;
  readonly entityId?: string;
  readonly patientId?: string;
  /** Names of the PHI fields read or written (column names, never values). */
  readonly phiFields?: readonly string[];
  /** HL7 purpose of use; defaults to the context's purpose. */
  readonly purposeOfUse?: string;
  /** The user on whose behalf an agent or service acts. */
  readonly onBehalfOf?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly actorType?: 'user' | 'agent' | 'system';
  readonly actorId?: string;
  /** Allow-listed structured detail; never PHI values. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** What `record` returns. */
export interface RecordedEvent {
  readonly id: number;
}

// One statement, the same text for every call (so PostgreSQL can reuse its plan). Context
// columns fall back to the transaction's request context through coalesce.
const insertSql = `
  insert into audit.events (action, event_type, outcome, outcome_reason, entity_type, entity_id,
                            patient_id, phi_fields, purpose_of_use, on_behalf_of, ip, user_agent,
                            actor_type, actor_id, metadata)
  values ($1, $2, $3, $4, $5, $6, $7, $8::text[], coalesce($9, ward.current_purpose()), $10, $11, $12,
          coalesce($13, ward.current_actor_type(), 'system'), coalesce($14::uuid, ward.current_user_id()),
          $15::jsonb)
  returning id`;

/**
 * Writes one audit event in the caller's transaction, so the event commits exactly when the
 * access it records commits (and vanishes with it on rollback).
 * @example await record(tx, { action: 'R', eventType: 'patient.read', entityType: 'Patient', entityId: id, patientId: id, phiFields: ['ssn'] })
 */
export async function record(tx: Tx, event: AuditEventInput): Promise<RecordedEvent> {
  const r = await insertEvent(tx, event);
  noteRecorded('recorded');
  return r;
}

/**
 * Writes a request's events as the last statements of its transaction and commits with the
 * last one (`Tx.queryAndCommit`): on PostgreSQL the final insert and COMMIT travel in one
 * round trip instead of two. The caller must have nothing left to do in the transaction: once
 * this resolves it is committed, and statements after it are refused. For routes that collect
 * their events while handling a request and write them on the way out; `record` stays the
 * call for an event written mid-transaction.
 * @example await recordAndCommit(tx, [{ action: 'R', eventType: 'patient.read', patientId: id }])
 */
export async function recordAndCommit(
  tx: Tx,
  events: readonly AuditEventInput[],
): Promise<RecordedEvent[]> {
  if (events.length === 0) throw new Error('recordAndCommit needs at least one event');
  // Validated before anything is sent, so bad input commits nothing.
  const params = events.map(parameters);
  const out: RecordedEvent[] = [];
  for (const [i, p] of params.entries()) {
    const write = i === params.length - 1 ? tx.queryAndCommit.bind(tx) : tx.query.bind(tx);
    out.push(firstRow(await write<{ id: number }>(insertSql, p)));
    noteRecorded('recorded');
  }
  return out;
}

/**
 * Writes `events` in the caller's transaction and then runs `then` (one statement, which may be
 * `queryAndCommit`), without waiting for the inserts' answers before sending it: on PostgreSQL
 * they travel in the same round trip, in this order. Every event is validated before anything
 * is sent. An insert that fails aborts the transaction, so the statement behind it fails too (a
 * COMMIT riding with it rolls back), and the insert's error is the one thrown. The embedded
 * engine runs one statement at a time: there the inserts are awaited one by one.
 * @example await recordThen(tx, [event], () => tx.queryAndCommit('insert into … returning id', values))
 */
export async function recordThen<T>(
  tx: Tx,
  events: readonly AuditEventInput[],
  then: () => Promise<T>,
): Promise<T> {
  const params = events.map(parameters);
  if (tx.engine !== 'postgres') {
    for (const p of params) {
      firstRow(await tx.query<{ id: number }>(insertSql, p));
      noteRecorded('recorded');
    }
    return then();
  }
  const inserts = params.map((p) => tx.query<{ id: number }>(insertSql, p));
  const result = then();
  // Observed at once: it may fail while the inserts are still awaited.
  result.catch(() => undefined);
  const settled = await Promise.allSettled(inserts);
  for (const s of settled) {
    if (s.status === 'rejected') {
      await result.catch(() => undefined);
      throw s.reason;
    }
    firstRow(s.value);
    noteRecorded('recorded');
  }
  return result;
}

/** Writes an event without counting it for the current request (platform hooks only). */
export async function insertEvent(tx: Tx, event: AuditEventInput): Promise<RecordedEvent> {
  return firstRow(await tx.query<{ id: number }>(insertSql, parameters(event)));
}

/** Job name of detached writes without a tenant; the system recorder does not re-audit it. */
export const detachedRecordJob = 'audit.record';

/**
 * Writes one audit event in its own transaction, for denied or failed operations whose own
 * transaction rolls back: the record survives. With a tenant context it is written under that
 * context; without one (an unauthenticated request) it goes to the platform chain. Call it
 * after the failed transaction has ended (the embedded engine runs one transaction at a time,
 * so awaiting it inside another would wait forever); `withFailureAudit` does exactly that.
 */
export async function recordDetached(
  db: Database,
  ctx: RequestContext | undefined,
  event: AuditEventInput,
): Promise<RecordedEvent> {
  const run = (tx: Tx) => tx.query<{ id: number }>(insertSql, parameters(event));
  const r =
    ctx && isUuid(ctx.orgId)
      ? await db.withContext(ctx, run)
      : await db.asSystem(
          {
            name: detachedRecordJob,
            reason: 'an event without tenant context belongs to the platform chain',
          },
          run,
        );
  noteRecorded('detached');
  return firstRow(r);
}

function parameters(e: AuditEventInput): unknown[] {
  for (const [name, v] of [
    ['patientId', e.patientId],
    ['onBehalfOf', e.onBehalfOf],
    ['actorId', e.actorId],
  ] as const) {
    if (v !== undefined && !isUuid(v)) {
      throw new WardError('validation_failed', `audit event ${name} must be a UUID`);
    }
  }
  return [
    e.action,
    e.eventType,
    e.outcome ?? '0',
    e.outcomeReason ?? null,
    e.entityType ?? null,
    e.entityId ?? null,
    e.patientId ?? null,
    e.phiFields ?? [],
    e.purposeOfUse ?? null,
    e.onBehalfOf ?? null,
    e.ip ?? null,
    e.userAgent?.slice(0, 512) ?? null,
    e.actorType ?? null,
    e.actorId ?? null,
    JSON.stringify(e.metadata ?? {}),
  ];
}

/**
 * Runs `fn` in a request transaction; if it throws, the transaction rolls back and then the
 * event `onFailure` describes (if any) is written in its own transaction before the error is
 * rethrown — the pattern for "a denied or failed operation is recorded anyway".
 */
export async function withFailureAudit<T>(
  db: Database,
  ctx: RequestContext,
  fn: (tx: Tx) => Promise<T>,
  onFailure: (error: unknown) => AuditEventInput | undefined,
): Promise<T> {
  try {
    return await db.withContext(ctx, fn);
  } catch (e) {
    const event = onFailure(e);
    if (event) await recordDetached(db, ctx, event);
    throw e;
  }
}
