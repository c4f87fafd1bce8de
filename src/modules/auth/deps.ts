import type { Database } from '../../platform/db/index.ts';
import type { Logger } from '../../platform/log.ts';
import type { FieldCodec } from '../crypto/index.ts';

/** What the identity services need. `now` is injectable so tests can move time. */
export interface AuthDeps {
  readonly db: Database;
  readonly codec: FieldCodec;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Current time in ms from the deps' clock. */
export function nowMs(d: AuthDeps): number {
  return d.now ? d.now() : Date.now();
}

/** Where a request came from, recorded on sessions and audit events. */
export interface ClientInfo {
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
  readonly requestId: string | undefined;
}
