import { migrationStatus } from '../platform/db/migrate.ts';
import type { Database } from '../platform/db/index.ts';
import { WardError } from '../platform/errors.ts';
import { notMigratedMessage } from './failure.ts';

/** Refuses (config_invalid) to run a data command against a schema with pending migrations. */
export async function requireMigrated(db: Database): Promise<void> {
  const status = await migrationStatus(db);
  const pending = status.filter((m) => m.state === 'pending');
  if (pending.length > 0)
    throw new WardError(
      'config_invalid',
      `${notMigratedMessage} (${pending.length} of ${status.length} migrations pending)`,
    );
}
