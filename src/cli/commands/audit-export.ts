import fs from 'node:fs';
import path from 'node:path';
import {
  countEvents,
  scanEvents,
  type AuditEventView,
  type EventFilters,
} from '../../modules/audit/events-query.ts';
import { isUuid } from '../../platform/db/index.ts';
import { partialPath, removeStalePartials } from '../../platform/partial-files.ts';
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

/**
 * RFC 4180 field: quoted when it holds a comma, quote or line break; arrays and objects as
 * JSON. Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a
 * tab or a carriage return — a user agent or a metadata value is attacker-chosen) is prefixed
 * with `'`, the OWASP CSV-injection defence, so it opens as the text it is.
 */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return String(v);
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Writes an export to `out` only once it is complete: into a new 0600 file beside it, then
 * renamed over `out` (an earlier export at that path stays intact until then, and a killed or
 * failed export leaves no file that looks complete). The caller must `commit` or `abort`.
 * Partial files an export to the same `out` left when it was killed are removed first
 * (`staleRemoved`); one a live export is writing is not (src/platform/partial-files.ts).
 */
function exportFile(out: string): {
  write: (s: string) => void;
  commit: () => void;
  abort: () => void;
  staleRemoved: string[];
} {
  // A device, pipe or link at `out` (/dev/stdout, a FIFO a collector reads) is written through,
  // as asked: renaming a file over it would replace the node itself.
  const existing = fs.lstatSync(out, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) {
    const fd = openOut(out, 'w');
    return {
      write: (s) => {
        fs.writeSync(fd, s);
      },
      commit: () => {
        fs.closeSync(fd);
      },
      abort: () => {
        fs.closeSync(fd);
      },
      staleRemoved: [],
    };
  }
  const stem = `.${path.basename(out)}`;
  const staleRemoved = removeStalePartials(path.dirname(out), (s) => s === stem);
  const temp = partialPath(path.dirname(out), stem);
  const fd = openOut(temp, 'wx', out);
  let open = true;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return {
    write: (s) => {
      fs.writeSync(fd, s);
    },
    commit: () => {
      fs.fsyncSync(fd);
      close();
      fs.renameSync(temp, out);
    },
    abort: () => {
      close();
      fs.rmSync(temp, { force: true });
    },
    staleRemoved,
  };
}

/** Opens `file` for writing (0600 when created); a failure names `shown`, the path asked for. */
function openOut(file: string, flags: string, shown = file): number {
  try {
    return fs.openSync(file, flags, 0o600);
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'error';
    throw new WardError('validation_failed', `cannot write --out ${shown} (${code})`);
  }
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
    const kind: 'jsonl' | 'csv' = format;
    const orgId = str(values, 'org');
    if (orgId !== undefined && !isUuid(orgId))
      throw new WardError('bad_request', '--org must be a UUID');
    if (Date.parse(from) > Date.parse(to))
      throw new WardError('bad_request', '--from must not be later than --to');
    const out = str(values, 'out');
    const file = out ? exportFile(out) : undefined;
    if (file && file.staleRemoved.length > 0) {
      io.stderr.write(
        `removed ${file.staleRemoved.length} partial file(s) an interrupted export to ${out ?? ''} left behind\n`,
      );
    }
    const write = file ? file.write : (s: string) => io.stdout.write(s);
    const filters: EventFilters = {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    };
    let n: number;
    try {
      n = await exportEvents();
      file?.commit();
    } catch (e) {
      file?.abort();
      throw e;
    }
    if (out)
      emit(
        io,
        values['json'] === true,
        { file: out, events: n },
        `exported ${n} event(s) to ${out}`,
      );
    return 0;

    function exportEvents(): Promise<number> {
      return withRuntime(io, ({ db }) =>
        db.asSystem(
          {
            name: 'audit.export',
            reason: 'exports audit events for an auditor',
            ...(orgId ? { orgId } : {}),
          },
          async (tx) => {
            // An id that names no organization is a mistake, not an empty export: refused, and
            // the job's own access event (written in this transaction) rolls back with it.
            if (orgId) {
              const known = await tx.query('select 1 from ward.organizations where id = $1', [
                orgId,
              ]);
              if (known.rows.length === 0)
                throw new WardError('not_found', `No organization has the id ${orgId}`);
            }
            const scoped = orgId ? { ...filters, orgId } : filters;
            const progress = createProgress(io, 'exporting', await countEvents(tx, scoped));
            if (kind === 'csv') write(csvColumns.join(',') + '\r\n');
            let done = 0;
            const total = await scanEvents(tx, scoped, (rows) => {
              write(render(rows, kind));
              done += rows.length;
              progress.update(done);
            });
            progress.finish();
            return total;
          },
        ),
      );
    }
  },
};
