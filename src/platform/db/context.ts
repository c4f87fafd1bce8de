import { WardError } from '../errors.ts';
import { literal } from './sql.ts';

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

/**
 * The one place where a transaction acquires its identity. The returned SQL runs right after
 * BEGIN in the same round trip: it switches to the runtime role (`set_config('role', …, true)`
 * is exactly `SET LOCAL ROLE`) and stores the context as transaction-local settings that the
 * RLS policies read through `ward.current_*()`. Because everything is LOCAL, the settings die
 * with the transaction and a pooled connection can never carry them into the next request.
 * Values are validated to UUIDs or short tokens before they are quoted.
 */
export function contextPrelude(
  ctx: RequestContext,
  role: 'ward_app' | 'ward_system',
  call?: PreludeCall,
): string {
  if (!isUuid(ctx.orgId) && !(role === 'ward_system' && ctx.orgId === '')) {
    throw new WardError('internal', 'request context has an invalid organization id');
  }
  const settings: [string, string][] = [
    ['role', role],
    ['ward.org_id', ctx.orgId],
    ['ward.user_id', checked(ctx.userId, isUuid)],
    ['ward.actor_type', ctx.actorType],
    ['ward.session_id', checked(ctx.sessionId, isUuid)],
    ['ward.purpose', checked(ctx.purpose, (v) => tokenPattern.test(v))],
    ['ward.request_id', checked(ctx.requestId, (v) => tokenPattern.test(v))],
  ];
  const calls = settings.map(([k, v]) => `set_config(${literal(k)}, ${literal(v)}, true)`);
  const head = `SELECT ${calls.join(', ')};`;
  return call ? `${head} ${renderCall(call)}` : head;
}

/**
 * A set-returning SQL function run right after the context is set, in the same round trip —
 * how a request authenticates inside its own transaction. The function name must be
 * schema-qualified lower-case; arguments are UUIDs or bytes, validated and then quoted.
 */
export interface PreludeCall {
  readonly fn: string;
  readonly args: readonly ({ uuid: string } | { bytes: Buffer })[];
}

function renderCall(call: PreludeCall): string {
  if (!/^[a-z_]+\.[a-z_]+$/.test(call.fn))
    throw new WardError('internal', 'invalid prelude function');
  const args = call.args.map((a) => {
    if ('uuid' in a) {
      if (!isUuid(a.uuid)) throw new WardError('internal', 'invalid prelude argument');
      return `${literal(a.uuid)}::uuid`;
    }
    return `${literal(`\\x${a.bytes.toString('hex')}`)}::bytea`;
  });
  return `SELECT * FROM ${call.fn}(${args.join(', ')});`;
}

function checked(v: string | undefined, ok: (v: string) => boolean): string {
  if (v === undefined) return '';
  if (!ok(v)) throw new WardError('internal', 'request context has an invalid value');
  return v;
}
