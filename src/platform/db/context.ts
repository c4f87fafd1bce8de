import { WardError } from '../errors.ts';
import type { PreludeStatement } from './types.ts';

/** Who a request acts as. Set once per transaction; never per connection. */
export interface RequestContext {
  /** The tenant whose rows the transaction may touch. */
  readonly orgId: string;
  /** The authenticated principal, if any (a user, a service account or an agent). */
  readonly userId?: string | undefined;
  readonly actorType: ActorType;
  readonly sessionId?: string | undefined;
  /** HL7 purpose-of-use code for the request, e.g. TREAT. */
  readonly purpose?: string | undefined;
  readonly requestId?: string | undefined;
}

/** The kinds of principal that act in Ward (seed 3: users and AI agents; plus jobs). */
export type ActorType = 'user' | 'agent' | 'system';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const tokenPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** True for a syntactically valid UUID. */
export function isUuid(v: unknown): v is string {
  return typeof v === 'string' && uuidPattern.test(v);
}

/** The context statement: fixed text, so PostgreSQL prepares it once per connection. */
const contextText =
  "SELECT set_config('role', $1, true), set_config('ward.org_id', $2, true), " +
  "set_config('ward.user_id', $3, true), set_config('ward.actor_type', $4, true), " +
  "set_config('ward.session_id', $5, true), set_config('ward.purpose', $6, true), " +
  "set_config('ward.request_id', $7, true)";

/**
 * The one place where a transaction acquires its identity. The returned statements run right
 * after BEGIN in the same round trip: the first switches to the runtime role
 * (`set_config('role', …, true)` is exactly `SET LOCAL ROLE`) and stores the context as
 * transaction-local settings that the RLS policies read through `ward.current_*()`. Because
 * everything is LOCAL, the settings die with the transaction and a pooled connection can never
 * carry them into the next request. Values travel as bound parameters and are also validated
 * (UUIDs, short tokens), so a malformed context is refused before it reaches the database.
 * `next` (an authentication or a confirmation, see the access module) runs right after, in
 * the same round trip, under the runtime role and with the context already set.
 */
export function contextPrelude(
  ctx: RequestContext,
  role: 'ward_app' | 'ward_system',
  next?: PreludeStatement,
): PreludeStatement[] {
  if (!isUuid(ctx.orgId) && !(role === 'ward_system' && ctx.orgId === '')) {
    throw new WardError('internal', 'request context has an invalid organization id');
  }
  const values = [
    role,
    ctx.orgId,
    checked(ctx.userId, isUuid),
    ctx.actorType,
    checked(ctx.sessionId, isUuid),
    checked(ctx.purpose, (v) => tokenPattern.test(v)),
    checked(ctx.requestId, (v) => tokenPattern.test(v)),
  ];
  const head: PreludeStatement = { text: contextText, values };
  return next ? [head, next] : [head];
}

function checked(v: string | undefined, ok: (v: string) => boolean): string {
  if (v === undefined) return '';
  if (!ok(v)) throw new WardError('internal', 'request context has an invalid value');
  return v;
}
