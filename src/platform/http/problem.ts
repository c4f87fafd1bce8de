import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorCodes, isWardError, translateDbError, WardError, type ErrorCode } from '../errors.ts';

/** An RFC 9457 problem document as Ward serves it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance: string;
  errors?: { path: string; message: string }[];
}

/** Builds the problem document for a WardError; the type URI is a stable URN per code. */
export function problemFor(e: WardError, requestId: string): Problem {
  return {
    type: `urn:ward:problem:${e.code}`,
    title: errorCodes[e.code].title,
    status: e.status,
    code: e.code,
    ...(e.detail ? { detail: e.detail } : {}),
    instance: `urn:ward:request:${requestId}`,
  };
}

/**
 * Maps anything thrown in a route to a problem document. Framework errors (bad JSON, size
 * limits, schema validation) become client errors; database errors pass the one translator;
 * everything else is a 500 whose body says nothing about the cause.
 */
export function toWardError(e: unknown): WardError {
  if (isWardError(e)) return e;
  const fe = e as Partial<FastifyError> & { validation?: unknown };
  if (fe.validation) return new WardError('validation_failed', undefined, {}, { cause: e });
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new WardError('bad_request', 'The body is not valid JSON', {}, { cause: e });
    case 'FST_ERR_BAD_URL':
      // Fastify's message quotes the path, which may carry an identifier: never passed on.
      return new WardError(
        'bad_request',
        'The URL is not validly percent-encoded',
        {},
        { cause: e },
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new WardError('bad_request', 'A path parameter is too long', {}, { cause: e });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new WardError('payload_too_large', undefined, {}, { cause: e });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new WardError('unsupported_media_type', undefined, {}, { cause: e });
    default:
      break;
  }
  if (fe.statusCode === 415)
    return new WardError('unsupported_media_type', undefined, {}, { cause: e });
  if (fe.statusCode === 413) return new WardError('payload_too_large', undefined, {}, { cause: e });
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new WardError('bad_request', undefined, {}, { cause: e });
  }
  return translateDbError(e);
}

/** Fastify error handler: logs type and code only, replies with problem+json. */
export function sendProblem(e: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const we = toWardError(e);
  const problem = problemFor(we, req.id);
  const fe = e as { validation?: { instancePath?: string; message?: string }[] };
  if (we.code === 'validation_failed' && Array.isArray(fe.validation)) {
    // Paths and schema messages only; Ajv messages name constraints, never the input value.
    problem.errors = fe.validation.slice(0, 20).map((v) => ({
      path: v.instancePath ?? '',
      message: v.message ?? 'invalid',
    }));
  }
  const retryAfter = we.meta['retryAfterSeconds'];
  if (we.code === 'rate_limited') reply.header('retry-after', String(retryAfter ?? 60));
  if (we.status >= 500) req.log.error({ err: we.cause ?? we }, 'request failed');
  else req.log.info({ code: we.code }, 'request rejected');
  return reply.status(we.status).type('application/problem+json').send(problem);
}
