import { randomUUID } from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import {
  decodeCursor,
  newestFirstAfter,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';
import { record } from '../audit/record.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { openFields } from '../crypto/open-fields.ts';
import { breakGlassReasonColumn, reviewTaskColumns } from './encrypted-columns.ts';
import type { Principal } from './principal.ts';

const sessionsTable = 'ward.break_glass_sessions';
const tasksTable = 'ward.review_tasks';

/** A started break-glass session. */
export interface BreakGlassView {
  readonly id: string;
  readonly expiresAt: string;
  readonly reviewTaskId: string;
  readonly alertId: string;
}

export const breakGlassMaxMinutes = 60;

/**
 * Characters a reason may not hold: controls other than tab and line breaks (an ANSI escape
 * rewrites the reviewer's terminal), format characters (zero-width spaces and joiners, bidi
 * overrides that reorder the review summary on screen) and the fillers that render as
 * nothing. A reason made of them would pass a length check while saying nothing.
 */
const unreadable =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\p{Cf}\u115f\u1160\u2800\u3164\uffa0]/u;

/**
 * Starts emergency access (ETREAT) to one patient's record: a readable reason of at least 20
 * characters (no control or invisible characters), a time box of at most an hour, a
 * high-severity alert and an open review task for the privacy officer — all in the same
 * transaction, so there is no break-glass without its paper trail. The reason (and the task's
 * summary, which quotes it) is stored encrypted: it usually describes the patient's situation.
 * While a session for the
 * patient is active another is refused: a renewal is a new decision, taken once the first
 * has ended, with its own reason, alert and review.
 */
export async function startBreakGlass(
  tx: Tx,
  codec: FieldCodec,
  p: Principal,
  input: { reason: string; minutes?: number | undefined; patientId: string },
): Promise<BreakGlassView> {
  if (!p.sessionId) throw new WardError('forbidden', 'Break-glass is for people, not API keys');
  const reason = input.reason.trim();
  if (unreadable.test(reason))
    throw new WardError(
      'validation_failed',
      'The reason holds a control or invisible character; say why in plain text',
    );
  if (reason.length < 20)
    throw new WardError('validation_failed', 'Say why, in at least 20 characters');
  const minutes = input.minutes ?? 30;
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > breakGlassMaxMinutes) {
    throw new WardError('validation_failed', `minutes must be 1 to ${breakGlassMaxMinutes}`);
  }
  const patientId = input.patientId.toLowerCase();
  const open = await tx.query<{ expires_at: Date }>(
    `select expires_at from ward.break_glass_sessions
      where user_id = $1 and patient_id = $2 and ended_at is null and expires_at > now()
      order by expires_at desc limit 1`,
    [p.userId, patientId],
  );
  const current = open.rows[0];
  if (current)
    throw new WardError(
      'conflict',
      `An emergency session for this patient is active until ${current.expires_at.toISOString()}; end it before starting another`,
    );
  const id = randomUUID();
  const taskId = randomUUID();
  const sealedReason = await codec.encryptRow(
    tx,
    { orgId: p.orgId, table: sessionsTable, rowId: id },
    { [breakGlassReasonColumn.column]: reason },
  );
  const sealedSummary = await codec.encryptRow(
    tx,
    { orgId: p.orgId, table: tasksTable, rowId: taskId },
    {
      [reviewTaskColumns.summary.column]:
        `Break-glass by user ${p.userId} on patient ${patientId} for ${minutes} min: ${reason}`.slice(
          0,
          2000,
        ),
    },
  );
  const r = await tx.query<{ expires_at: Date }>(
    `insert into ward.break_glass_sessions (organization_id, id, user_id, patient_id, reason_encrypted, expires_at)
     values ($1, $2, $3, $4, $5, now() + make_interval(mins => $6)) returning expires_at`,
    [p.orgId, id, p.userId, patientId, sealedReason[breakGlassReasonColumn.column], minutes],
  );
  const expiresAt = (r.rows[0] as { expires_at: Date }).expires_at;
  await tx.query(
    `insert into ward.review_tasks (organization_id, id, kind, subject_id, subject_user_id, summary_encrypted)
     values ($1, $2, 'break_glass_review', $3, $4, $5)`,
    [p.orgId, taskId, id, p.userId, sealedSummary[reviewTaskColumns.summary.column]],
  );
  const alert = await tx.query<{ id: string }>(
    `insert into ward.security_alerts (organization_id, kind, severity, subject_user_id, details)
     values ($1, 'access.break_glass', 'high', $2, $3::jsonb) returning id`,
    [
      p.orgId,
      p.userId,
      JSON.stringify({
        breakGlassId: id,
        reviewTaskId: taskId,
        minutes,
        patientId,
      }),
    ],
  );
  await record(tx, {
    action: 'E',
    eventType: 'access.break_glass.start',
    entityType: 'BreakGlass',
    entityId: id,
    purposeOfUse: 'ETREAT',
    patientId,
    metadata: { minutes, reviewTaskId: taskId },
  });
  return {
    id,
    expiresAt: expiresAt.toISOString(),
    reviewTaskId: taskId,
    alertId: (alert.rows[0] as { id: string }).id,
  };
}

/** Ends the caller's active break-glass sessions early. */
export async function endBreakGlass(tx: Tx, p: Principal): Promise<number> {
  const r = await tx.query(
    `update ward.break_glass_sessions set ended_at = now() where user_id = $1 and ended_at is null and expires_at > now()`,
    [p.userId],
  );
  await record(tx, {
    action: 'E',
    eventType: 'access.break_glass.end',
    entityType: 'User',
    entityId: p.userId,
    metadata: { ended: r.rowCount },
  });
  return r.rowCount;
}

/** A privacy review task. */
export interface ReviewTaskView {
  readonly id: string;
  readonly kind: string;
  readonly subjectId: string;
  readonly subjectUserId: string | null;
  readonly status: 'open' | 'closed';
  readonly summary: string;
  readonly resolution: string | null;
  readonly createdAt: string;
  readonly closedAt: string | null;
}

/**
 * Lists review tasks (optionally of one status), newest first, a page at a time. Each task's
 * summary is decrypted (it is returned); the reviewers' notes are not returned, so not opened.
 */
export async function listReviewTasks(
  tx: Tx,
  codec: FieldCodec,
  status?: 'open' | 'closed',
  q: PageQuery = {},
): Promise<Page<ReviewTaskView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('review-tasks', q.cursor, 2);
  const r = await tx.query<{
    organization_id: string;
    id: string;
    kind: string;
    subject_id: string;
    subject_user_id: string | null;
    status: 'open' | 'closed';
    summary_encrypted: Buffer | null;
    summary: string | null;
    resolution: string | null;
    created_at: Date;
    closed_at: Date | null;
    sort_at: string;
  }>(
    `select organization_id, id, kind, subject_id, subject_user_id, status, summary_encrypted, summary,
            resolution, created_at, closed_at, created_at::text as sort_at
       from ward.review_tasks where ($1::text is null or status = $1) and ${newestFirstAfter(2)}
      order by created_at desc, id desc limit $4`,
    [status ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  const summaries = new Map<string, string>();
  for (const x of r.rows.slice(0, limit)) {
    const text = await openFields(
      codec,
      tx,
      { orgId: x.organization_id, table: tasksTable, rowId: x.id },
      x,
      { summary: reviewTaskColumns.summary },
    );
    summaries.set(x.id, text.summary ?? '');
  }
  return toPage(
    r.rows,
    limit,
    'review-tasks',
    (x) => [x.sort_at, x.id],
    (x) => ({
      id: x.id,
      kind: x.kind,
      subjectId: x.subject_id,
      subjectUserId: x.subject_user_id,
      status: x.status,
      summary: summaries.get(x.id) ?? '',
      resolution: x.resolution,
      createdAt: x.created_at.toISOString(),
      closedAt: x.closed_at?.toISOString() ?? null,
    }),
  );
}

/**
 * Closes a review task with a resolution and optional notes (stored encrypted); a reviewer may
 * not close a review of their own access.
 */
export async function closeReviewTask(
  tx: Tx,
  codec: FieldCodec,
  p: Principal,
  id: string,
  input: {
    resolution: 'appropriate' | 'inappropriate' | 'needs_follow_up';
    notes?: string | undefined;
  },
): Promise<void> {
  const t = await tx.query<{ subject_user_id: string | null; status: string }>(
    'select subject_user_id, status from ward.review_tasks where id = $1 for update',
    [id],
  );
  const task = t.rows[0];
  if (!task) throw new WardError('not_found');
  if (task.status === 'closed') throw new WardError('conflict', 'The task is already closed');
  if (task.subject_user_id === p.userId)
    throw new WardError('forbidden', 'Nobody reviews their own emergency access');
  if (p.principalType !== 'human' || p.actorType !== 'user')
    throw new WardError('forbidden', 'Only a person closes a privacy review');
  const notes =
    input.notes === undefined
      ? null
      : ((
          await codec.encryptRow(
            tx,
            { orgId: p.orgId, table: tasksTable, rowId: id },
            { [reviewTaskColumns.notes.column]: input.notes },
          )
        )[reviewTaskColumns.notes.column] ?? null);
  await tx.query(
    `update ward.review_tasks set status = 'closed', resolution = $2, notes_encrypted = $3, closed_by = $4, closed_at = now() where id = $1`,
    [id, input.resolution, notes, p.userId],
  );
  await record(tx, {
    action: 'U',
    eventType: 'access.review_task.close',
    entityType: 'ReviewTask',
    entityId: id,
    metadata: { resolution: input.resolution },
  });
}
