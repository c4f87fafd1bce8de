import { hash } from 'node:crypto';

/**
 * An event as the sealer and verifier read it: every column as the exact text PostgreSQL
 * renders, so that the leaf bytes do not depend on the driver or the engine (timestamps keep
 * their microseconds, jsonb keeps PostgreSQL's own rendering).
 */
export interface EventRow {
  readonly id: number;
  readonly organization_id: string;
  readonly occurred_at: string;
  readonly month: string;
  readonly tx_id: string;
  readonly actor_type: string;
  readonly actor_id: string | null;
  readonly on_behalf_of: string | null;
  readonly session_id: string | null;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly action: string;
  readonly event_type: string;
  readonly entity_type: string | null;
  readonly entity_id: string | null;
  readonly patient_id: string | null;
  /** The PHI field names as PostgreSQL's JSON of the array (`array_to_json`), e.g. `["ssn"]`. */
  readonly phi_fields: string;
  readonly purpose_of_use: string | null;
  readonly outcome: string;
  readonly outcome_reason: string | null;
  readonly request_id: string | null;
  readonly metadata: string;
}

/** The select list that produces an `EventRow` from `audit.events e`. */
export const eventRowColumns = `e.id, e.organization_id::text as organization_id,
  to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at,
  to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM') as month,
  e.tx_id::text as tx_id, e.actor_type, e.actor_id::text as actor_id,
  e.on_behalf_of::text as on_behalf_of, e.session_id::text as session_id, e.ip::text as ip,
  e.user_agent, e.action, e.event_type, e.entity_type, e.entity_id,
  e.patient_id::text as patient_id, array_to_json(e.phi_fields)::text as phi_fields, e.purpose_of_use, e.outcome, e.outcome_reason,
  e.request_id, e.metadata::text as metadata`;

/**
 * The select list COPY reads an `EventRow` from (see `eventRowFromCopy`): `eventRowColumns`
 * without `month`, which is the first seven characters of `occurred_at` (both are the same UTC
 * rendering) and is cut out here rather than formatted a second time by the server. The casts
 * are the same as there: COPY writes a column through its type's output function, which for
 * `inet` differs from the `::text` cast the leaf has always used (`10.0.0.1` vs `10.0.0.1/32`).
 */
export const eventRowCopyColumns = `e.id, e.organization_id::text, ${copyColumnsAfterOrg()}`;

/**
 * `eventRowCopyColumns` without the organization, for reads filtered to one organization:
 * rendering a UUID as text is a good part of what the server spends per row, and the reader
 * already knows it (`CopyLeafHasher` with an organization puts it back).
 */
export const eventRowCopyColumnsWithoutOrg = `e.id, ${copyColumnsAfterOrg()}`;

function copyColumnsAfterOrg(): string {
  return `to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  e.tx_id::text, e.actor_type, e.actor_id::text, e.on_behalf_of::text, e.session_id::text,
  e.ip::text, e.user_agent, e.action, e.event_type, e.entity_type, e.entity_id,
  e.patient_id::text, array_to_json(e.phi_fields)::text, e.purpose_of_use, e.outcome,
  e.outcome_reason, e.request_id, e.metadata::text`;
}

/** Builds an `EventRow` from the COPY text fields of `eventRowCopyColumns`, in that order. */
export function eventRowFromCopy(f: readonly (string | null)[]): EventRow {
  const occurredAt = f[2] as string;
  return {
    id: Number(f[0]),
    organization_id: f[1] as string,
    occurred_at: occurredAt,
    month: occurredAt.slice(0, occurredAt.indexOf('-') + 3),
    tx_id: f[3] as string,
    actor_type: f[4] as string,
    actor_id: f[5] ?? null,
    on_behalf_of: f[6] ?? null,
    session_id: f[7] ?? null,
    ip: f[8] ?? null,
    user_agent: f[9] ?? null,
    action: f[10] as string,
    event_type: f[11] as string,
    entity_type: f[12] ?? null,
    entity_id: f[13] ?? null,
    patient_id: f[14] ?? null,
    phi_fields: f[15] as string,
    purpose_of_use: f[16] ?? null,
    outcome: f[17] as string,
    outcome_reason: f[18] ?? null,
    request_id: f[19] ?? null,
    metadata: f[20] as string,
  };
}

/** Version tag that opens every leaf; a new leaf layout gets a new tag. */
export const leafVersion = 'ward.audit.event.v1';

/**
 * The canonical leaf text of an event: a JSON array in a fixed order (see docs/audit.md) whose
 * last two PHI-field and metadata elements are spliced in exactly as PostgreSQL renders them
 * (`array_to_json` of the text array gives the same bytes as JSON.stringify of its elements).
 * `id` may be overridden to test whether a row's content belongs at another position.
 */
export function leafText(e: EventRow, id: number = e.id): string {
  const head = JSON.stringify([
    leafVersion,
    id,
    e.organization_id,
    e.occurred_at,
    e.tx_id,
    e.actor_type,
    e.actor_id,
    e.on_behalf_of,
    e.session_id,
    e.ip,
    e.user_agent,
    e.action,
    e.event_type,
    e.entity_type,
    e.entity_id,
    e.patient_id,
  ]);
  const tail = JSON.stringify([e.purpose_of_use, e.outcome, e.outcome_reason, e.request_id]);
  return `${head.slice(0, -1)},${e.phi_fields},${tail.slice(1, -1)},${e.metadata}]`;
}

/** The canonical leaf bytes of an event: UTF-8 of `leafText`. */
export function leafBytes(e: EventRow, id: number = e.id): Buffer {
  return Buffer.from(leafText(e, id), 'utf8');
}

const leafPrefix = Buffer.from([0x00]);

/** RFC 6962 leaf hash: SHA-256(0x00 || leaf). */
export function leafHash(leaf: Buffer): Buffer {
  return hash('sha256', Buffer.concat([leafPrefix, leaf]), 'buffer');
}

/**
 * The leaf hash of an event row, straight from its text: U+0000 encodes as the single byte
 * 0x00, so hashing the string "\0" + leaf text is SHA-256(0x00 || leaf) without building
 * two intermediate buffers per event (the sealer and verifier hash hundreds of thousands).
 */
export function eventLeafHash(e: EventRow, id: number = e.id): Buffer {
  return hash('sha256', `\u0000${leafText(e, id)}`, 'buffer');
}
