import type { WardConfig } from '../config.ts';
import { Database } from './database.ts';
import { createPgliteDriver } from './pglite.ts';
import { createPostgresDriver } from './postgres.ts';

/**
 * Opens the database the configuration names: PostgreSQL when `DATABASE_URL` is set,
 * otherwise the embedded PGlite engine under `WARD_DATA_DIR`.
 */
export async function openDatabase(config: WardConfig): Promise<Database> {
  if (config.databaseUrl) {
    return new Database(
      createPostgresDriver({ connectionString: config.databaseUrl, max: config.poolSize }),
    );
  }
  return new Database(await createPgliteDriver({ dataDir: config.dataDir }));
}
