import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import { openFields } from '../crypto/open-fields.ts';
import { alertNotesColumn } from './encrypted-columns.ts';
import type { Principal } from './principal.ts';
import {
  decodeCursor,
  newestFirstAfter,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';

export const alertStatuses = ['open', 'acknowledged', 'resolved'] as const;

/** How a resolved alert was judged. */
export const alertResolutions = ['true_positive', 'false_positive', 'benign'] as const;

/** The judgement recorded when an alert is resolved. */
export type AlertResolution = (typeof alertResolutions)[number];

/** The lifecycle state of a security alert. */
export type AlertStatus = (typeof alertStatuses)[number];

/** A security alert as the API shows it. */
export interface AlertView {
  readonly id: string;
  readonly kind: string;
  readonly severity: string;
  readonly subjectUserId: string | null;
  readonly details: Record<string, unknown>;
  readonly status: string;
  readonly createdAt: string;
  readonly acknowledgedBy: string | null;
  readonly acknowledgedAt: string | null;
  readonly resolvedBy: string | null;
  readonly resolvedAt: string | null;
  readonly resolution: string | null;
  readonly notes: string | null;
}

interface AlertRow {
  organization_id: string;
  id: string;
  kind: string;
  severity: string;
  subject_user_id: string | null;
  details: Record<string, unknown>;
  status: string;
  created_at: Date;
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
  resolved_by: string | null;
  resolved_at: Date | null;
  resolution: string | null;
  notes_encrypted: Buffer | null;
  /** Legacy plaintext (rows written before migration 0022, until `ward keys rewrap`). */
  notes: string | null;
}

const alertColumns = `organization_id, id, kind, severity, subject_user_id, details, status, created_at,
  acknowledged_by, acknowledged_at, resolved_by, resolved_at, resolution, notes_encrypted, notes`;

const alertsTable = 'ward.security_alerts';

/** The API view of an alert, its notes decrypted (they are returned). */
async function alertView(tx: Tx, codec: FieldCodec, a: AlertRow): Promise<AlertView> {
  const text = await openFields(
    codec,
    tx,
    { orgId: a.organization_id, table: alertsTable, rowId: a.id },
    a,
    { notes: alertNotesColumn },
  );
  return viewOf(a, text.notes);
}

const viewOf = (a: AlertRow, notes: string | null): AlertView => ({
  id: a.id,
  kind: a.kind,
  severity: a.severity,
  subjectUserId: a.subject_user_id,
  details: a.details,
  status: a.status,
  createdAt: a.created_at.toISOString(),
  acknowledgedBy: a.acknowledged_by,
  acknowledgedAt: a.acknowledged_at?.toISOString() ?? null,
  resolvedBy: a.resolved_by,
  resolvedAt: a.resolved_at?.toISOString() ?? null,
  resolution: a.resolution,
  notes,
});

/** Lists the organization's security alerts (optionally of one status), newest first. */
export async function listAlerts(
  tx: Tx,
  codec: FieldCodec,
  status: AlertStatus | undefined,
  q: PageQuery = {},
): Promise<Page<AlertView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('security-alerts', q.cursor, 2);
  const r = await tx.query<AlertRow & { sort_at: string }>(
    `select ${alertColumns}, created_at::text as sort_at
       from ward.security_alerts where ($1::text is null or status = $1) and ${newestFirstAfter(2)}
      order by created_at desc, id desc limit $4`,
    [status ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  const views = new Map<string, AlertView>();
  for (const a of r.rows.slice(0, limit)) views.set(a.id, await alertView(tx, codec, a));
  return toPage(
    r.rows,
    limit,
    'security-alerts',
    (a) => [a.sort_at, a.id],
    (a) => views.get(a.id) ?? viewOf(a, null),
  );
}

/**
 * Loads an alert for a change by `p`, locked until the transaction ends, refusing who may not
 * handle it: only a person (an agent or service account does not close a security question),
 * and never the person the alert is about.
 */
async function alertToHandle(tx: Tx, p: Principal, id: string): Promise<AlertRow> {
  const r = await tx.query<AlertRow>(
    `select ${alertColumns} from ward.security_alerts where id = $1 for update`,
    [id],
  );
  const alert = r.rows[0];
  if (!alert) throw new WardError('not_found');
  if (p.principalType !== 'human' || p.actorType !== 'user')
    throw new WardError('forbidden', 'Only a person acknowledges or resolves a security alert');
  if (
    alert.subject_user_id !== null &&
    alert.subject_user_id.toLowerCase() === p.userId.toLowerCase()
  )
    throw new WardError('forbidden', 'Nobody handles a security alert about themselves');
  return alert;
}

/** Acknowledges an open alert: someone is looking at it. Audited (`security_alert.acknowledge`). */
export async function acknowledgeAlert(
  tx: Tx,
  codec: FieldCodec,
  p: Principal,
  id: string,
): Promise<AlertView> {
  const alert = await alertToHandle(tx, p, id);
  if (alert.status !== 'open')
    throw new WardError('conflict', `The alert is ${alert.status}, not open`);
  const r = await tx.query<AlertRow>(
    `update ward.security_alerts set status = 'acknowledged', acknowledged_by = $2, acknowledged_at = now()
      where id = $1 returning ${alertColumns}`,
    [id, p.userId],
  );
  await record(tx, {
    action: 'U',
    eventType: 'security_alert.acknowledge',
    entityType: 'SecurityAlert',
    entityId: id,
    metadata: { kind: alert.kind, severity: alert.severity },
  });
  return alertView(tx, codec, r.rows[0] as AlertRow);
}

/**
 * Resolves an open or acknowledged alert with a judgement and optional notes (stored
 * encrypted); a resolved alert stays resolved. Audited (`security_alert.resolve`, with the
 * judgement, never the notes).
 */
export async function resolveAlert(
  tx: Tx,
  codec: FieldCodec,
  p: Principal,
  id: string,
  input: { resolution: AlertResolution; notes?: string | undefined },
): Promise<AlertView> {
  const alert = await alertToHandle(tx, p, id);
  if (alert.status === 'resolved') throw new WardError('conflict', 'The alert is already resolved');
  const notes =
    input.notes === undefined
      ? null
      : ((
          await codec.encryptRow(
            tx,
            { orgId: alert.organization_id, table: alertsTable, rowId: alert.id },
            { [alertNotesColumn.column]: input.notes },
          )
        )[alertNotesColumn.column] ?? null);
  const r = await tx.query<AlertRow>(
    `update ward.security_alerts
        set status = 'resolved', resolved_by = $2, resolved_at = now(), resolution = $3,
            notes_encrypted = $4
      where id = $1 returning ${alertColumns}`,
    [id, p.userId, input.resolution, notes],
  );
  await record(tx, {
    action: 'U',
    eventType: 'security_alert.resolve',
    entityType: 'SecurityAlert',
    entityId: id,
    metadata: { kind: alert.kind, severity: alert.severity, resolution: input.resolution },
  });
  return alertView(tx, codec, r.rows[0] as AlertRow);
}
