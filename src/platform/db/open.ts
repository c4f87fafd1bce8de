import type { WardConfig } from '../config.ts';
import { Database } from './database.ts';
import { createPostgresDriver } from './postgres.ts';

/**
 * Opens the database the configuration names: PostgreSQL when `DATABASE_URL` is set,
 * otherwise the embedded PGlite engine under `WARD_DATA_DIR`. PGlite is imported only when it
 * is the engine: loading its module costs a PostgreSQL server about 45 MB of resident memory
 * for nothing.
 */
export async function openDatabase(config: WardConfig): Promise<Database> {
  if (config.databaseUrl) {
    return new Database(
      createPostgresDriver({ connectionString: config.databaseUrl, max: config.poolSize }),
    );
  }
  const { createPgliteDriver } = await import('./pglite.ts');
  return new Database(await createPgliteDriver({ dataDir: config.dataDir }));
}
