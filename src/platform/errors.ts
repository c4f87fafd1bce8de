/**
 * One registry of stable error codes. Every error a client or CLI user can see is declared
 * here with its HTTP status and a fixed title, so codes never drift between modules and
 * responses never carry internal detail (stack traces, SQL, another tenant's data).
 */
export const errorCodes = {
  bad_request: { status: 400, title: 'The request is malformed' },
  validation_failed: { status: 400, title: 'The request did not pass validation' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  login_failed: { status: 401, title: 'The login was not accepted' },
  activation_failed: { status: 401, title: 'The activation was not accepted' },
  mfa_required: { status: 403, title: 'A second factor is required for this action' },
  forbidden: { status: 403, title: 'This action is not permitted' },
  not_found: { status: 404, title: 'The resource does not exist' },
  conflict: { status: 409, title: 'The request conflicts with the current state' },
  already_exists: { status: 409, title: 'A resource with these identifying values exists' },
  precondition_failed: { status: 412, title: 'The resource has changed since it was read' },
  precondition_required: { status: 428, title: 'This update requires an If-Match header' },
  idempotency_key_reused: {
    status: 422,
    title: 'The Idempotency-Key was already used with a different request',
  },
  idempotency_key_in_use: {
    status: 409,
    title: 'A request with this Idempotency-Key is still in progress',
  },
  idempotency_replay_unavailable: {
    status: 409,
    title: 'The first request succeeded, but its result holds a secret that is shown only once',
  },
  invalid_cursor: { status: 400, title: 'The pagination cursor is not valid for this list' },
  invalid_purpose_of_use_header: {
    status: 400,
    title: 'X-Purpose-Of-Use must be one of the HL7 purpose-of-use codes Ward accepts',
  },
  request_timeout: { status: 408, title: 'The request body stopped arriving' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'The content type is not supported' },
  rate_limited: { status: 429, title: 'Too many requests' },
  migration_changed: { status: 500, title: 'An applied migration file was modified' },
  migration_failed: { status: 500, title: 'A migration could not be applied' },
  rollback_refused: { status: 409, title: 'The rollback would destroy data' },
  config_invalid: { status: 500, title: 'The configuration is invalid' },
  kek_unavailable: { status: 503, title: 'The key-encryption key is missing or does not match' },
  key_not_found: { status: 500, title: 'The encryption key version does not exist' },
  key_destroyed: { status: 410, title: 'The data was crypto-shredded and cannot be read' },
  key_in_use: { status: 409, title: 'The key version still protects data' },
  decrypt_failed: { status: 500, title: 'A stored encrypted value failed authentication' },
  invalid_phi_value: { status: 400, title: 'The value cannot be normalized for search' },
  database_unavailable: { status: 503, title: 'The database is unavailable' },
  shutting_down: { status: 503, title: 'The server is shutting down; retry the request' },
  audit_not_sealed: { status: 409, title: 'The audit event is not sealed into a checkpoint yet' },
  audit_integrity_failed: { status: 500, title: 'An audit record failed its integrity check' },
  audit_not_recorded: {
    status: 500,
    title: 'The request touched protected data without an audit record',
  },
  internal: { status: 500, title: 'An internal error occurred' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof errorCodes;

/**
 * The one error type the service and CLI layers throw on purpose. `detail` is shown to the
 * caller and must never hold PHI; `meta` is structured, allow-listed context for logs.
 */
export class WardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly meta: Readonly<Record<string, string | number | boolean>>;

  constructor(
    code: ErrorCode,
    detail?: string,
    meta: Record<string, string | number | boolean> = {},
    options?: { cause?: unknown },
  ) {
    super(detail ?? errorCodes[code].title, options);
    this.name = 'WardError';
    this.code = code;
    this.status = errorCodes[code].status;
    this.detail = detail;
    this.meta = meta;
  }
}

/** True when `e` is a WardError with the given code (or any code when omitted). */
export function isWardError(e: unknown, code?: ErrorCode): e is WardError {
  return e instanceof WardError && (code === undefined || e.code === code);
}

/**
 * Translates PostgreSQL errors to stable codes in one place. A permission or RLS failure
 * becomes `not_found` so that a probe cannot learn that another tenant's row exists;
 * unique and check violations become client errors without echoing the offending values.
 */
export function translateDbError(e: unknown): WardError {
  if (e instanceof WardError) return e;
  const code = pgCode(e);
  switch (code) {
    case '23505':
      return new WardError('already_exists', undefined, {}, { cause: e });
    case '23503':
      // A foreign key that points at a row this tenant cannot see looks like a missing row.
      return new WardError('not_found', 'A referenced resource does not exist', {}, { cause: e });
    case '23514':
    case '23502':
    case '22P02':
    case '22007':
    case '22008':
    case '22001':
    case '22003':
    case '22021':
    case '22P05':
      // 22021 is NUL in text, 22P05 a \u0000 escape in jsonb: the HTTP layer refuses NUL
      // before a handler runs; this catches any other way in (a header, a CLI argument).
      return new WardError('validation_failed', undefined, { pgCode: code }, { cause: e });
    case '42501':
      return new WardError('not_found', undefined, {}, { cause: e });
    case '40001':
    case '40P01':
      return new WardError(
        'conflict',
        'The request conflicted with a concurrent change',
        {},
        {
          cause: e,
        },
      );
    case '57P01':
    case '08006':
    case '08003':
    case '08001':
      return new WardError('database_unavailable', undefined, {}, { cause: e });
    default:
      return new WardError('internal', undefined, code ? { pgCode: code } : {}, { cause: e });
  }
}

/** The SQLSTATE of a driver error, if it carries one. */
export function pgCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const c: unknown = e.code;
    if (typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c)) return c;
  }
  return undefined;
}
