import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { PrincipalCache } from '../modules/access/principal-cache.ts';
import { PolicyCache } from '../modules/access/policy-cache.ts';
import { registerAccessRoutes } from '../modules/access/routes/access.ts';
import { registerAuditRoutes } from '../modules/audit/routes/index.ts';
import type { SecuredDeps } from '../modules/access/secured-route.ts';
import type { AuthDeps } from '../modules/auth/deps.ts';
import { registerApiKeyRoutes } from '../modules/auth/routes/api-keys.ts';
import { registerLoginRoutes } from '../modules/auth/routes/login.ts';
import { registerSelfRoutes } from '../modules/auth/routes/self.ts';
import { registerClinicalRoutes } from '../modules/clinical/index.ts';
import { patientExists } from '../modules/clinical/patients-repo.ts';
import { registerReportRoutes } from '../modules/reports/routes/index.ts';
import { registerOrganizationRoutes } from '../modules/tenancy/routes/organization.ts';
import { registerRoleRoutes } from '../modules/tenancy/routes/roles.ts';
import { registerUserRoutes } from '../modules/tenancy/routes/users.ts';
import { RateLimiter, type RateLimitRule } from '../platform/http/rate-limit.ts';
import { LocalObjectStore } from '../platform/objects/local-store.ts';
import type { ObjectStore } from '../platform/objects/object-store.ts';
import type { WardRuntime } from '../runtime/open-ward.ts';

/** Options for the API modules. */
export interface ApiModuleOptions {
  /** Per-principal rate limit applied after authentication (none when omitted). */
  readonly principalRateLimit?: RateLimitRule | undefined;
  /** Where medical image files go (default: the local directory from the configuration). */
  readonly objectStore?: ObjectStore;
}

/**
 * The API's route plugins, mounted under /api/v1, built from one runtime. Every secured route
 * shares one policy cache, so access policies are compiled once per organization and version,
 * and one principal cache, so a token's principal is confirmed in its request's opening round
 * trip rather than authenticated in an awaited one of its own.
 */
export function apiModules(
  rt: Pick<WardRuntime, 'config' | 'db' | 'crypto' | 'logger'>,
  opts: ApiModuleOptions = {},
): FastifyPluginAsync[] {
  const secured: SecuredDeps = {
    db: rt.db,
    policies: new PolicyCache(),
    principals: new PrincipalCache(),
    limiter: opts.principalRateLimit ? new RateLimiter(opts.principalRateLimit) : undefined,
    requestHash: (tx, orgId, text) => rt.crypto.codec.requestHash(tx, orgId, text),
    patientExists,
  };
  const auth: AuthDeps = { db: rt.db, codec: rt.crypto.codec, logger: rt.logger };
  const identity: FastifyPluginAsync = (app: FastifyInstance) => {
    registerLoginRoutes(app, auth);
    registerSelfRoutes(app, secured, auth);
    registerApiKeyRoutes(app, secured, auth);
    registerUserRoutes(app, secured, auth);
    registerOrganizationRoutes(app, secured);
    registerRoleRoutes(app, secured);
    registerAccessRoutes(app, secured, rt.crypto.codec);
    registerAuditRoutes(app, secured);
    registerReportRoutes(app, secured, rt.crypto.codec);
    return Promise.resolve();
  };
  const clinical: FastifyPluginAsync = (app: FastifyInstance) => {
    registerClinicalRoutes(app, secured, rt.crypto.codec, {
      store: opts.objectStore ?? new LocalObjectStore(rt.config.objectDir),
      maxBytes: rt.config.imageMaxBytes,
      idleMs: rt.config.imageUploadIdleMs,
      downloadIdleMs: rt.config.imageDownloadIdleMs,
    });
    return Promise.resolve();
  };
  return [identity, clinical];
}
