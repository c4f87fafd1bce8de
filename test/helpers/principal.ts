import { randomUUID } from 'node:crypto';
import { defaultSettings, type Principal } from '../../src/modules/access/principal.ts';

/**
 * An admin principal of `orgId` holding only `grant:manage`, for tests that create or revoke
 * cross-organization grants through the service rather than over HTTP.
 */
export function grantManager(orgId: string, userId: string = randomUUID()): Principal {
  return {
    orgId,
    userId,
    actorType: 'user',
    principalType: 'human',
    sessionId: randomUUID(),
    apiKeyId: undefined,
    roles: ['admin'],
    permissions: new Set(['grant:manage']),
    mfaVerified: true,
    restricted: null,
    breakGlass: new Map(),
    policyVersion: 1,
    settings: defaultSettings,
    purpose: undefined,
  };
}
