import { migrationStatus } from '../platform/db/migrate.ts';
import type { Database } from '../platform/db/index.ts';
import { WardError } from '../platform/errors.ts';

/** Refuses (config_invalid) to run a data command against a schema with pending migrations. */
export async function requireMigrated(db: Database): Promise<void> {
  const pending = (await migrationStatus(db)).filter((m) => m.state === 'pending');
  if (pending.length > 0)
    throw new WardError(
      'config_invalid',
      `${pending.length} migration(s) are pending; run \`ward db migrate\` first`,
    );
}
