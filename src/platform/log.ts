import { pino, type Logger } from 'pino';
import { fdDestination } from './log-destination.ts';

/**
 * Structured JSON logs. Fields are allow-listed by construction: requests log their method,
 * route template and id (never the query string, headers or body), responses their status,
 * and errors only their type and stable code. PHI therefore cannot reach a log line through
 * the generic serializers; code that logs must pass only identifiers and counts. Without a
 * destination the lines go to stdout through `fdDestination`, which never keeps the process
 * alive for a reader that stopped reading (log-destination.ts).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ward' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { req: serializeRequest, res: serializeResponse, err: serializeError },
    },
    destination ?? stdout(),
  );
}

let stdoutDestination: pino.DestinationStream | undefined;

/** One stdout destination per process (it registers an exit hook). */
function stdout(): pino.DestinationStream {
  stdoutDestination ??= fdDestination(1);
  return stdoutDestination;
}

interface LoggableRequest {
  id?: unknown;
  method?: unknown;
  url?: unknown;
  routeOptions?: { url?: unknown };
}

function serializeRequest(req: LoggableRequest): Record<string, unknown> {
  // The route template only: a path that matched no route is not logged, since it is
  // attacker- or client-chosen text that could carry an identifier.
  const route = typeof req.routeOptions?.url === 'string' ? req.routeOptions.url : '(unmatched)';
  return { id: req.id, method: req.method, route };
}

function serializeResponse(res: { statusCode?: unknown }): Record<string, unknown> {
  return { statusCode: res.statusCode };
}

/** Errors are logged as their type and code only: driver messages can quote row values. */
export function serializeError(e: unknown): Record<string, unknown> {
  if (typeof e !== 'object' || e === null) return { type: typeof e };
  const o = e as { name?: unknown; code?: unknown; statusCode?: unknown; meta?: unknown };
  return {
    type: typeof o.name === 'string' ? o.name : 'Error',
    code: typeof o.code === 'string' ? o.code : undefined,
    statusCode: typeof o.statusCode === 'number' ? o.statusCode : undefined,
    meta: typeof o.meta === 'object' ? o.meta : undefined,
  };
}

export type { Logger };
