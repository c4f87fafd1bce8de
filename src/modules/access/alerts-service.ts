import type { Tx } from '../../platform/db/index.ts';
import {
  decodeCursor,
  newestFirstAfter,
  pageLimit,
  toPage,
  type Page,
  type PageQuery,
} from '../../platform/http/pagination.ts';

export const alertStatuses = ['open', 'acknowledged', 'resolved'] as const;

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
}

/** Lists the organization's security alerts (optionally of one status), newest first. */
export async function listAlerts(
  tx: Tx,
  status: AlertStatus | undefined,
  q: PageQuery = {},
): Promise<Page<AlertView>> {
  const limit = pageLimit(q);
  const after = decodeCursor('security-alerts', q.cursor, 2);
  const r = await tx.query<{
    id: string;
    kind: string;
    severity: string;
    subject_user_id: string | null;
    details: Record<string, unknown>;
    status: string;
    created_at: Date;
    sort_at: string;
  }>(
    `select id, kind, severity, subject_user_id, details, status, created_at,
            created_at::text as sort_at
       from ward.security_alerts where ($1::text is null or status = $1) and ${newestFirstAfter(2)}
      order by created_at desc, id desc limit $4`,
    [status ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
  );
  return toPage(
    r.rows,
    limit,
    'security-alerts',
    (a) => [a.sort_at, a.id],
    (a) => ({
      id: a.id,
      kind: a.kind,
      severity: a.severity,
      subjectUserId: a.subject_user_id,
      details: a.details,
      status: a.status,
      createdAt: a.created_at.toISOString(),
    }),
  );
}
