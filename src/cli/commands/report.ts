import type { Tx } from '../../platform/db/index.ts';
import type { EventPosition } from '../../modules/reports/positions.ts';
import type { FieldCodec } from '../../modules/crypto/codec.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record, type AuditEventInput } from '../../modules/audit/record.ts';
import type { BreakGlassRow } from '../../modules/reports/break-glass.ts';
import type { DisclosureRow } from '../../modules/reports/disclosures.ts';
import type { PatientAccessRow } from '../../modules/reports/patient-access.ts';
import { reportPeriod, type Period } from '../../modules/reports/period.ts';
import {
  breakGlassReport,
  disclosureReport,
  patientAccessReport,
  userActivityReport,
  type ReportPage,
} from '../../modules/reports/reports-service.ts';
import type {
  PatientCountPosition,
  UserActivityPatientRow,
} from '../../modules/reports/user-activity.ts';
import { str, type CliIo, type CliValues, type Command } from '../command.ts';
import { withRuntime } from '../runtime.ts';
import { renderTable, type TableColumn } from '../table.ts';
import { csvField } from './audit-export.ts';

/** Rows per database round trip while a command reads a whole report. */
const chunk = 1_000;

type Format = 'table' | 'csv' | 'jsonl';

const commonOptions = {
  org: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  format: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** A report as a command prints it: every row, not one page. */
interface WholeReport<S, R> {
  readonly header: ReportPage<S, R, unknown>['header'];
  readonly summary: S;
  readonly items: R[];
}

/** Reads every page of a report (`next` drives the loop) into one. */
async function wholeReport<S, R, P>(
  page: (after: P | undefined) => Promise<ReportPage<S, R, P>>,
): Promise<WholeReport<S, R>> {
  const first = await page(undefined);
  const items = [...first.items];
  let next = first.next;
  while (next !== null) {
    const more = await page(next);
    items.push(...more.items);
    next = more.next;
  }
  return { header: first.header, summary: first.summary, items };
}

/** A UUID option that must be present. */
function requiredId(values: CliValues, name: string): string {
  const v = str(values, name);
  if (v === undefined || !isUuid(v)) throw new WardError('bad_request', `--${name} must be a UUID`);
  return v.toLowerCase();
}

/** A UUID option that may be absent. */
function optionalId(values: CliValues, name: string): string | undefined {
  return str(values, name) === undefined ? undefined : requiredId(values, name);
}

function formatOf(values: CliValues): Format {
  const f = str(values, 'format') ?? 'table';
  if (f !== 'table' && f !== 'csv' && f !== 'jsonl')
    throw new WardError('bad_request', '--format must be table, csv or jsonl');
  return f;
}

/** `reportPeriod` with the CLI's error code for bad options. */
function periodOf(values: CliValues, defaultYears: number): Period {
  try {
    return reportPeriod({ from: str(values, 'from'), to: str(values, 'to') }, defaultYears);
  } catch (e) {
    if (e instanceof WardError) throw new WardError('bad_request', `--${e.message}`);
    throw e;
  }
}

/**
 * Runs one report for an operator: as a named, audited system job scoped to `orgId` (an id
 * that names no organization is refused, not answered with an empty report), recording what
 * was reported in the same transaction, then prints it in the chosen form.
 */
async function runReport<S, R>(
  io: CliIo,
  values: CliValues,
  spec: {
    readonly job: string;
    readonly title: string;
    readonly orgId: string;
    readonly subject: Record<string, unknown>;
    /** Builds the report; `codec` opens the encrypted fields a report returns. */
    readonly build: (tx: Tx, codec: FieldCodec) => Promise<WholeReport<S, R>>;
    readonly event: (r: WholeReport<S, R>) => AuditEventInput;
    readonly columns: readonly TableColumn<R>[];
    readonly csv: readonly (keyof R & string)[];
    readonly summaryLines: (s: S) => string[];
  },
): Promise<number> {
  const format = formatOf(values);
  const report = await withRuntime(io, ({ db, crypto }) =>
    db.asSystem(
      { name: spec.job, reason: 'privacy report for an auditor', orgId: spec.orgId },
      async (tx) => {
        const known = await tx.query('select 1 from ward.organizations where id = $1', [
          spec.orgId,
        ]);
        if (known.rows.length === 0)
          throw new WardError('not_found', `No organization has the id ${spec.orgId}`);
        const r = await spec.build(tx, crypto.codec);
        await record(tx, spec.event(r));
        return r;
      },
    ),
  );
  const { header, summary, items } = report;
  if (values['json'] === true) {
    io.stdout.write(
      `${JSON.stringify({ report: spec.job, ...header, ...spec.subject, summary, items })}\n`,
    );
  } else if (format === 'jsonl') {
    for (const row of items) io.stdout.write(`${JSON.stringify(row)}\n`);
  } else if (format === 'csv') {
    io.stdout.write(`${spec.csv.join(',')}\r\n`);
    for (const row of items)
      io.stdout.write(`${spec.csv.map((c) => csvField(row[c])).join(',')}\r\n`);
  } else {
    const lines = [
      spec.title,
      `organization ${header.organizationId}`,
      ...Object.entries(spec.subject).map(([k, v]) => `${k} ${String(v)}`),
      `period ${header.period.from} to ${header.period.to} (generated ${header.generatedAt})`,
      '',
      ...spec.summaryLines(summary),
      '',
      items.length > 0 ? renderTable(spec.columns, items) : '(nothing in this period)',
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}

const counts = (o: Record<string, number>) =>
  Object.entries(o)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

const accessColumns: readonly TableColumn<PatientAccessRow>[] = [
  { heading: 'time (UTC)', cell: (r) => r.occurredAt.slice(0, 19) },
  {
    heading: 'who',
    cell: (r) =>
      r.recipientOrganizationId !== null
        ? `${r.recipientOrganizationName ?? r.recipientOrganizationId} (another organization)`
        : (r.actorEmail ?? `${r.actorType} ${r.actorId ?? ''}`.trim()),
  },
  { heading: 'action', cell: (r) => r.action },
  { heading: 'event', cell: (r) => r.eventType },
  { heading: 'purpose', cell: (r) => r.purposeOfUse },
  { heading: 'outcome', cell: (r) => (r.outcome === '0' ? 'ok' : (r.outcomeReason ?? r.outcome)) },
  { heading: 'fields', cell: (r) => r.phiFields.join(' '), max: 60 },
];

export const reportAccessCommand: Command = {
  path: ['report', 'access'],
  summary: 'Access report for a patient: every audited read, write, refusal and disclosure',
  usage: '--org ID --patient ID [--from ISO] [--to ISO] [--format table|csv|jsonl] [--json]',
  options: { ...commonOptions, patient: { type: 'string' } },
  async run(values, _p, io) {
    const orgId = requiredId(values, 'org');
    const patientId = requiredId(values, 'patient');
    const period = periodOf(values, 3);
    return runReport(io, values, {
      job: 'report.patient_access',
      title: 'Access report',
      orgId,
      subject: { patientId },
      build: (tx) =>
        wholeReport((after: EventPosition | undefined) =>
          patientAccessReport(tx, orgId, patientId, period, { limit: chunk, after }),
        ),
      event: (r) => ({
        action: 'R',
        eventType: 'report.patient_access',
        entityType: 'Patient',
        entityId: patientId,
        patientId,
        purposeOfUse: 'HOPERAT',
        metadata: { from: period.from, to: period.to, returned: r.items.length },
      }),
      columns: accessColumns,
      csv: [
        'eventId',
        'occurredAt',
        'actorType',
        'actorId',
        'actorName',
        'actorEmail',
        'onBehalfOf',
        'recipientOrganizationId',
        'recipientOrganizationName',
        'action',
        'eventType',
        'entityType',
        'entityId',
        'phiFields',
        'purposeOfUse',
        'outcome',
        'outcomeReason',
        'ip',
        'requestId',
      ],
      summaryLines: (s) => [
        `${s.events} event(s): ${s.reads} read(s), ${s.writes} write(s), ${s.refused} refused, ${s.disclosures} disclosure(s) to other organizations, by ${s.distinctActors} actor(s)`,
        `by purpose: ${counts(s.byPurpose)}`,
      ],
    });
  },
};

export const reportDisclosuresCommand: Command = {
  path: ['report', 'disclosures'],
  summary: "Accounting of disclosures of a patient's PHI to other organizations (HIPAA 164.528)",
  usage:
    '--org ID --patient ID [--from ISO] [--to ISO] [--all-purposes] [--format table|csv|jsonl] [--json]',
  options: { ...commonOptions, patient: { type: 'string' }, 'all-purposes': { type: 'boolean' } },
  async run(values, _p, io) {
    const orgId = requiredId(values, 'org');
    const patientId = requiredId(values, 'patient');
    const period = periodOf(values, 6);
    const allPurposes = values['all-purposes'] === true;
    return runReport<Awaited<ReturnType<typeof disclosureReport>>['summary'], DisclosureRow>(
      io,
      values,
      {
        job: 'report.disclosures',
        title: allPurposes
          ? 'Disclosures (all purposes)'
          : 'Accounting of disclosures (45 CFR 164.528)',
        orgId,
        subject: { patientId, allPurposes },
        build: (tx) =>
          wholeReport((after: EventPosition | undefined) =>
            disclosureReport(tx, orgId, patientId, period, { allPurposes, limit: chunk, after }),
          ),
        event: (r) => ({
          action: 'R',
          eventType: 'report.disclosures',
          entityType: 'Patient',
          entityId: patientId,
          patientId,
          purposeOfUse: 'HOPERAT',
          metadata: { from: period.from, to: period.to, allPurposes, returned: r.items.length },
        }),
        columns: [
          { heading: 'time (UTC)', cell: (r) => r.occurredAt.slice(0, 19) },
          {
            heading: 'recipient',
            cell: (r) => r.recipientOrganizationName ?? r.recipientOrganizationId,
          },
          { heading: 'purpose', cell: (r) => r.purposeOfUse },
          { heading: 'PHI disclosed', cell: (r) => r.phiFields.join(' '), max: 80 },
        ],
        csv: [
          'eventId',
          'occurredAt',
          'recipientOrganizationId',
          'recipientOrganizationName',
          'recipientActorType',
          'recipientActorId',
          'purposeOfUse',
          'phiFields',
          'entityType',
          'entityId',
          'requestId',
        ],
        summaryLines: (s) => [
          `${s.listed} disclosure(s) to ${s.recipients} recipient organization(s)`,
          allPurposes
            ? 'all purposes listed'
            : `left out (treatment, payment, operations, to the patient): ${counts(s.omittedByPurpose)}`,
        ],
      },
    );
  },
};

export const reportBreakGlassCommand: Command = {
  path: ['report', 'break-glass'],
  summary: 'Break-glass sessions with what was read under them and the state of their review',
  usage:
    '--org ID [--from ISO] [--to ISO] [--user ID] [--patient ID] [--unreviewed] [--format table|csv|jsonl] [--json]',
  options: {
    ...commonOptions,
    user: { type: 'string' },
    patient: { type: 'string' },
    unreviewed: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const orgId = requiredId(values, 'org');
    const period = periodOf(values, 3);
    const filters = {
      userId: optionalId(values, 'user'),
      patientId: optionalId(values, 'patient'),
      unreviewed: values['unreviewed'] === true,
    };
    return runReport<Awaited<ReturnType<typeof breakGlassReport>>['summary'], BreakGlassRow>(
      io,
      values,
      {
        job: 'report.break_glass',
        title: 'Break-glass sessions',
        orgId,
        subject: {},
        build: (tx, codec) =>
          wholeReport((after: EventPosition | undefined) =>
            breakGlassReport(tx, codec, orgId, period, filters, { limit: chunk, after }),
          ),
        event: (r) => ({
          action: 'R',
          eventType: 'report.break_glass',
          entityType: 'BreakGlass',
          ...(filters.patientId ? { patientId: filters.patientId } : {}),
          phiFields: r.items.length > 0 ? ['reason'] : [],
          purposeOfUse: 'HOPERAT',
          metadata: { from: period.from, to: period.to, returned: r.items.length },
        }),
        columns: [
          { heading: 'started (UTC)', cell: (r) => r.startedAt.slice(0, 19) },
          { heading: 'user', cell: (r) => r.userEmail ?? r.userId },
          { heading: 'patient', cell: (r) => r.patientId },
          { heading: 'reads', cell: (r) => r.accesses, align: 'right' },
          { heading: 'refused', cell: (r) => r.refused, align: 'right' },
          {
            heading: 'review',
            cell: (r) => (r.reviewStatus === 'closed' ? r.reviewResolution : r.reviewStatus),
          },
          { heading: 'reason', cell: (r) => r.reason, max: 50 },
        ],
        csv: [
          'sessionId',
          'userId',
          'userName',
          'userEmail',
          'patientId',
          'reason',
          'startedAt',
          'expiresAt',
          'endedAt',
          'accesses',
          'refused',
          'patientsTouched',
          'reviewTaskId',
          'reviewStatus',
          'reviewResolution',
          'reviewedBy',
          'reviewedAt',
          'alertId',
          'alertStatus',
          'alertResolution',
        ],
        summaryLines: (s) => [
          `${s.sessions} session(s) by ${s.users} user(s) on ${s.patients} patient(s); ${s.unreviewed} not yet reviewed`,
        ],
      },
    );
  },
};

export const reportUserActivityCommand: Command = {
  path: ['report', 'user-activity'],
  summary: 'What one user or agent did: totals, and the patients whose records it touched',
  usage: '--org ID --user ID [--from ISO] [--to ISO] [--format table|csv|jsonl] [--json]',
  options: { ...commonOptions, user: { type: 'string' } },
  async run(values, _p, io) {
    const orgId = requiredId(values, 'org');
    const userId = requiredId(values, 'user');
    const period = periodOf(values, 3);
    return runReport<
      Awaited<ReturnType<typeof userActivityReport>>['summary'],
      UserActivityPatientRow
    >(io, values, {
      job: 'report.user_activity',
      title: 'User activity',
      orgId,
      subject: { userId },
      build: (tx) =>
        wholeReport((after: PatientCountPosition | undefined) =>
          userActivityReport(tx, orgId, userId, period, { limit: chunk, after }),
        ),
      event: (r) => ({
        action: 'R',
        eventType: 'report.user_activity',
        entityType: 'User',
        entityId: userId,
        purposeOfUse: 'HOPERAT',
        metadata: { from: period.from, to: period.to, returned: r.items.length },
      }),
      columns: [
        { heading: 'patient', cell: (r) => r.patientId },
        { heading: 'events', cell: (r) => r.events, align: 'right' },
        { heading: 'reads', cell: (r) => r.reads, align: 'right' },
        { heading: 'writes', cell: (r) => r.writes, align: 'right' },
        { heading: 'refused', cell: (r) => r.refused, align: 'right' },
        { heading: 'purposes', cell: (r) => r.purposes.join(' ') },
        { heading: 'first (UTC)', cell: (r) => r.firstAt.slice(0, 19) },
        { heading: 'last (UTC)', cell: (r) => r.lastAt.slice(0, 19) },
      ],
      csv: ['patientId', 'events', 'reads', 'writes', 'refused', 'purposes', 'firstAt', 'lastAt'],
      summaryLines: (s) => [
        `${s.events} event(s): ${s.reads} read(s), ${s.writes} write(s), ${s.refused} refused, on ${s.patients} patient(s)`,
        `by purpose: ${counts(s.byPurpose)}`,
        `by event: ${counts(s.byEventType)}`,
      ],
    });
  },
};
