import fs from 'node:fs';
import {
  countEvents,
  scanEvents,
  type AuditEventView,
  type EventFilters,
} from '../../modules/audit/events-query.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
import { createProgress } from '../progress.ts';
import { withRuntime } from '../runtime.ts';

const csvColumns: (keyof AuditEventView)[] = [
  'id',
  'occurredAt',
  'actorType',
  'actorId',
  'onBehalfOf',
  'sessionId',
  'ip',
  'userAgent',
  'action',
  'eventType',
  'entityType',
  'entityId',
  'patientId',
  'phiFields',
  'purposeOfUse',
  'outcome',
  'outcomeReason',
  'requestId',
  'metadata',
];

/** RFC 4180 field: quoted when it holds a comma, quote or line break; arrays and objects as JSON. */
function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Formats one chunk of events. */
function render(rows: AuditEventView[], format: 'jsonl' | 'csv'): string {
  if (format === 'jsonl') return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  return rows.map((r) => csvColumns.map((c) => csvField(r[c])).join(',')).join('\r\n') + '\r\n';
}

export const auditExportCommand: Command = {
  path: ['audit', 'export'],
  summary: 'Export audit events in a time range as JSON Lines or CSV',
  usage: '--from ISO --to ISO [--format jsonl|csv] [--org ID] [--out FILE] [--json]',
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
    org: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const from = str(values, 'from');
    const to = str(values, 'to');
    const format = str(values, 'format') ?? 'jsonl';
    if (!from || !to || Number.isNaN(Date.parse(from)) || Number.isNaN(Date.parse(to))) {
      throw new WardError('bad_request', '--from and --to must be ISO 8601 dates');
    }
    if (format !== 'jsonl' && format !== 'csv')
      throw new WardError('bad_request', '--format must be jsonl or csv');
    const orgId = str(values, 'org');
    if (orgId !== undefined && !isUuid(orgId))
      throw new WardError('bad_request', '--org must be a UUID');
    const out = str(values, 'out');
    const write = out
      ? (
          (fd: number) => (s: string) =>
            fs.writeSync(fd, s)
        )(fs.openSync(out, 'w', 0o600))
      : (s: string) => io.stdout.write(s);
    const filters: EventFilters = {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    };
    const n = await withRuntime(io, ({ db }) =>
      db.asSystem(
        {
          name: 'audit.export',
          reason: 'exports audit events for an auditor',
          ...(orgId ? { orgId } : {}),
        },
        async (tx) => {
          const scoped = orgId ? { ...filters, orgId } : filters;
          const progress = createProgress(io, 'exporting', await countEvents(tx, scoped));
          if (format === 'csv') write(csvColumns.join(',') + '\r\n');
          let done = 0;
          const total = await scanEvents(tx, scoped, (rows) => {
            write(render(rows, format));
            done += rows.length;
            progress.update(done);
          });
          progress.finish();
          return total;
        },
      ),
    );
    if (out)
      emit(
        io,
        values['json'] === true,
        { file: out, events: n },
        `exported ${n} event(s) to ${out}`,
      );
    return 0;
  },
};
