import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { purposeCodes } from '../access/purposes.ts';
import type { FieldCodec } from './codec.ts';
import { agentContextColumn } from './encrypted-columns.ts';

const table = `${agentContextColumn.schema}.${agentContextColumn.table}`;
const column = agentContextColumn.column;

/** Input for storing an agent's session context (seed 3). */
export interface AgentContextInput {
  readonly orgId: string;
  readonly agentId: string;
  /** HL7 purpose-of-use code, e.g. HPAYMT. */
  readonly purpose: string;
  readonly context: Record<string, unknown>;
  readonly expiresAt: Date;
}

/**
 * Stores an agent's context encrypted; the row id is chosen first because the AAD binds it.
 * The purpose must be a known HL7 code as sent (an agent never breaks the glass, so not
 * ETREAT): a context with a made-up purpose would justify nothing it is later used for.
 */
export async function storeAgentContext(
  q: Queryable,
  codec: FieldCodec,
  input: AgentContextInput,
): Promise<string> {
  if (!(purposeCodes as readonly string[]).includes(input.purpose) || input.purpose === 'ETREAT')
    throw new WardError('validation_failed', 'purpose must be a known purpose-of-use code');
  const id = randomUUID();
  const sealed = await codec.encrypt(
    q,
    { orgId: input.orgId, table, column, rowId: id },
    JSON.stringify(input.context),
  );
  await q.query(
    `insert into ward.agent_policy_context (organization_id, id, agent_id, purpose, context_encrypted, expires_at)
     values ($1, $2, $3, $4, $5, $6)`,
    [input.orgId, id, input.agentId, input.purpose, sealed, input.expiresAt],
  );
  return id;
}

/** Reads and decrypts an agent's context; undefined when the row is not visible or expired. */
export async function readAgentContext(
  q: Queryable,
  codec: FieldCodec,
  orgId: string,
  id: string,
): Promise<Record<string, unknown> | undefined> {
  const r = await q.query<{ context_encrypted: Buffer }>(
    `select context_encrypted from ward.agent_policy_context where organization_id = $1 and id = $2 and expires_at > now()`,
    [orgId, id],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const text = await codec.decrypt(q, { orgId, table, column, rowId: id }, row.context_encrypted);
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new WardError('internal', 'agent context is not an object');
  return parsed as Record<string, unknown>;
}
