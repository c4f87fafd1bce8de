import type { KeyAdminDeps } from '../../src/modules/crypto/key-admin.ts';
import type { Tx } from '../../src/platform/db/index.ts';
import type { EngineKind } from '../../src/platform/db/types.ts';
import { testCrypto } from './crypto.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { seedTenant, type TenantFixture } from './fixtures.ts';
import { createPatientTable, patientRegistry } from './phi-table.ts';

/**
 * A database with one tenant and the test patient table, and the key-admin dependencies over
 * it (a keyring that never caches the primary key, so a rotation is seen at once). Declare it
 * in a describe block, `open` it in `before` and `close` it in `after`.
 * @example const k = keyAdminFixture(engine); before(() => k.open('RET')); after(() => k.close());
 */
export function keyAdminFixture(engine: EngineKind) {
  let opened: { t: TestDatabase; tenant: TenantFixture } | undefined;
  const crypto = testCrypto({ primaryTtlMs: 0 });
  const registry = patientRegistry();
  const need = () => {
    if (!opened) throw new Error('keyAdminFixture: open() it first');
    return opened;
  };
  return {
    crypto,
    registry,
    get db() {
      return need().t.db;
    },
    get orgId() {
      return need().tenant.orgId;
    },
    async open(label: string): Promise<void> {
      const t = await createTestDatabase({ engine });
      opened = { t, tenant: await seedTenant(t.db, label) };
      await createPatientTable(t.db);
    },
    close: (): Promise<void> => opened?.t.close() ?? Promise.resolve(),
    deps: (): KeyAdminDeps => ({
      db: need().t.db,
      keyring: crypto.keyring,
      events: crypto.events,
      registry,
    }),
    /** Runs `fn` in a request transaction of the tenant. */
    as: <T>(fn: (tx: Tx) => Promise<T>): Promise<T> =>
      need().t.db.withContext({ orgId: need().tenant.orgId, actorType: 'user' }, fn),
  };
}
