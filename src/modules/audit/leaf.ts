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
  readonly phi_fields: string[];
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
  e.patient_id::text as patient_id, e.phi_fields, e.purpose_of_use, e.outcome, e.outcome_reason,
  e.request_id, e.metadata::text as metadata`;

/** Version tag that opens every leaf; a new leaf layout gets a new tag. */
export const leafVersion = 'ward.audit.event.v1';

/**
 * The canonical leaf bytes of an event: UTF-8 of a JSON array in a fixed order (see
 * docs/audit.md), whose last element is the metadata exactly as PostgreSQL renders jsonb.
 * `id` may be overridden to test whether a row's content belongs at another position.
 */
export function leafBytes(e: EventRow, id: number = e.id): Buffer {
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
    e.phi_fields,
    e.purpose_of_use,
    e.outcome,
    e.outcome_reason,
    e.request_id,
  ]);
  return Buffer.from(`${head.slice(0, -1)},${e.metadata}]`, 'utf8');
}

const leafPrefix = Buffer.from([0x00]);

/** RFC 6962 leaf hash: SHA-256(0x00 || leaf). */
export function leafHash(leaf: Buffer): Buffer {
  return hash('sha256', Buffer.concat([leafPrefix, leaf]), 'buffer');
}
