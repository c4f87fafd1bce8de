import type { WardConfig } from '../platform/config.ts';
import { openDatabase, type Database } from '../platform/db/index.ts';
import type { Logger } from '../platform/log.ts';
import { recordSystemAccess } from '../modules/audit/system-recorder.ts';

/** Everything a running Ward process (server or CLI command) shares. */
export interface WardRuntime {
  readonly config: WardConfig;
  readonly db: Database;
  readonly logger: Logger;
}

/**
 * The composition root: opens the database and wires the modules' cross-cutting hooks into
 * it (every `asSystem` call is logged here; the audit module adds its recorder). The server
 * and every CLI command start through this one function, so no entry point can forget a hook.
 */
export async function openWard(config: WardConfig, logger: Logger): Promise<WardRuntime> {
  const db = await openDatabase(config);
  try {
    // Every RLS bypass writes an audit event inside the bypassing transaction.
    db.onSystemAccess(recordSystemAccess);
    db.onSystemAccessLogged((job) => {
      logger.info({ job: job.name }, 'system access');
    });
    return { config, db, logger };
  } catch (e) {
    await db.close();
    throw e;
  }
}
