import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { apiModules } from '../../src/api/modules.ts';
import { PrincipalCache } from '../../src/modules/access/principal-cache.ts';
import { PolicyCache } from '../../src/modules/access/policy-cache.ts';
import type { SecuredDeps } from '../../src/modules/access/secured-route.ts';
import { phiGuard } from '../../src/modules/audit/http/phi-guard.ts';
import { recordSystemAccess } from '../../src/modules/audit/system-recorder.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { buildApp } from '../../src/platform/http/app.ts';
import type { ObjectStore } from '../../src/platform/objects/object-store.ts';
import { createLogger } from '../../src/platform/log.ts';
import { createOrganization, createUser } from '../../src/modules/tenancy/service.ts';
import { totpCode, base32Decode } from '../../src/modules/auth/totp.ts';
import type { WardRuntime } from '../../src/runtime/open-ward.ts';
import { testCrypto } from './crypto.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

/** A migrated database with the full API on top, driven through `inject`. */
export interface TestApi {
  readonly t: TestDatabase;
  readonly app: FastifyInstance;
  readonly rt: Pick<WardRuntime, 'config' | 'db' | 'crypto' | 'logger'>;
  close(): Promise<void>;
}

/**
 * Builds the API over a fresh database; `extra` plugins (given the access pipeline's deps) are
 * mounted under /api/v1 too. `objectStore` replaces the image store (it gets the directory the
 * default store would use), for tests that make the store fail or wait.
 */
export async function createTestApi(
  extra: (secured: SecuredDeps) => FastifyPluginAsync[] = () => [],
  engine?: 'pglite' | 'postgres',
  env: NodeJS.ProcessEnv = {},
  opts: { objectStore?: (objectDir: string) => ObjectStore } = {},
): Promise<TestApi> {
  const t = await createTestDatabase(engine ? { engine } : {});
  const logger = createLogger('silent');
  t.db.onSystemAccess(recordSystemAccess);
  // Each API gets its own object directory (image files), removed on close.
  const objectDir = mkdtempSync(path.join(tmpdir(), 'ward-objects-'));
  const config = loadConfig({ WARD_OBJECT_DIR: objectDir, ...env });
  const rt = { config, db: t.db, logger, crypto: testCrypto() };
  const app = await buildApp({
    db: t.db,
    logger,
    plugins: [phiGuard],
    modules: [
      ...apiModules(rt, opts.objectStore ? { objectStore: opts.objectStore(objectDir) } : {}),
      ...extra({
        db: t.db,
        policies: new PolicyCache(),
        principals: new PrincipalCache(),
        requestHash: (tx, orgId, text) => rt.crypto.codec.requestHash(tx, orgId, text),
      }),
    ],
  });
  return {
    t,
    app,
    rt,
    async close() {
      await app.close();
      await t.close();
      rmSync(objectDir, { recursive: true, force: true });
    },
  };
}

/** Creates a patient over the API as `token` (who needs patient:create); returns its id. */
export async function createPatientAs(api: TestApi, token: string, mrn: string): Promise<string> {
  const r = await api.app.inject({
    method: 'POST',
    url: '/api/v1/patients',
    headers: auth(token, 'TREAT'),
    payload: { mrn, firstName: 'Emergency', lastName: 'Synthetic', dateOfBirth: '1970-01-01' },
  });
  if (r.statusCode !== 201) throw new Error(`patient create: ${r.statusCode} ${r.body}`);
  return r.json<{ id: string }>().id;
}

export const goodPassword = 'plum orchard seventeen lanterns';

/** Creates an organization with users of the given roles; returns their ids and emails. */
export async function seedOrg(api: TestApi, label: string, roles: readonly string[]) {
  const org = await createOrganization(api.t.db, { name: `Org ${label}`, type: 'provider' });
  const users: Record<string, { id: string; email: string }> = {};
  for (const role of roles) {
    const email = `${role}.${label.toLowerCase()}.${Math.random().toString(36).slice(2, 8)}@example.test`;
    const u = await createUser(api.t.db, { orgId: org.id, email, role, password: goodPassword });
    users[role] = { id: u.id, email };
  }
  return { orgId: org.id, users };
}

/** POST /auth/login; returns the parsed body and status. */
export async function login(
  api: TestApi,
  email: string,
  password = goodPassword,
  extra: Record<string, unknown> = {},
  ip = '10.0.0.1',
) {
  const r = await api.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password, ...extra },
    remoteAddress: ip,
  });
  return { status: r.statusCode, body: r.json<Record<string, unknown>>() };
}

/** Logs in and returns the access token (fails the test if the login does not give one). */
export async function tokenFor(api: TestApi, email: string): Promise<string> {
  const r = await login(api, email);
  const token = r.body['accessToken'];
  if (r.status !== 200 || typeof token !== 'string')
    throw new Error(`login failed: ${JSON.stringify(r.body)}`);
  return token;
}

/** Enrolls TOTP for the holder of `token`; returns the base32 secret and recovery codes. */
export async function enrollTotp(api: TestApi, token: string, now = Date.now()) {
  const start = await api.app.inject({
    method: 'POST',
    url: '/api/v1/auth/mfa/totp',
    headers: auth(token),
  });
  const secret = start.json<{ secret: string }>().secret;
  const confirm = await api.app.inject({
    method: 'POST',
    url: '/api/v1/auth/mfa/totp/confirm',
    headers: auth(token),
    payload: { code: totpCode(base32Decode(secret), now) },
  });
  if (confirm.statusCode !== 200) throw new Error(`enrollment failed: ${confirm.body}`);
  return { secret, recoveryCodes: confirm.json<{ recoveryCodes: string[] }>().recoveryCodes };
}

/** Authorization (and optionally purpose) headers. */
export function auth(token: string, purpose?: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...(purpose ? { 'x-purpose-of-use': purpose } : {}) };
}

/** Counts audit events of a type (as a superuser, for assertions). */
export async function countEvents(
  api: TestApi,
  eventType: string,
  reason?: string,
): Promise<number> {
  const r = await api.t.db.asAdmin((tx) =>
    tx.query<{ n: number }>(
      'select count(*)::int as n from audit.events where event_type = $1 and ($2::text is null or outcome_reason = $2)',
      [eventType, reason ?? null],
    ),
  );
  return r.rows[0]?.n ?? 0;
}
