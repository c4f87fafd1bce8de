import type { FastifyInstance } from 'fastify';
import type { SecuredDeps } from '../../access/secured-route.ts';
import { securedRoute } from '../../access/secured-route.ts';
import { mfaRequiredFor } from '../../access/principal.ts';
import { WardError } from '../../../platform/errors.ts';
import {
  dateTime,
  empty,
  errorResponses,
  idParams,
  nullableDateTime,
  nullableString,
  object,
  stringList,
  uuid,
} from '../../../platform/http/schemas.ts';
import type { AuthDeps } from '../deps.ts';
import { credentialFailureHook } from '../login-service.ts';
import {
  confirmTotpEnrollment,
  mfaStatus,
  regenerateRecoveryCodes,
  removeTotp,
  startTotpEnrollment,
} from '../mfa-service.ts';
import { changePassword } from '../password-service.ts';
import { logout, refreshSession, revokeOne, sessionsOf } from '../session-service.ts';

/** The session shape shared by self-service and administration routes. */
export const sessionSchema = object({
  id: uuid,
  userId: uuid,
  ip: nullableString,
  userAgent: nullableString,
  mfaVerified: { type: 'boolean' },
  authMethod: { type: 'string' },
  createdAt: dateTime,
  lastSeenAt: dateTime,
  expiresAt: dateTime,
  revokedAt: nullableDateTime,
});

const code = { type: 'string', pattern: '^[0-9]{6}$' } as const;

/** Routes a signed-in person uses on their own account. */
export function registerSelfRoutes(app: FastifyInstance, s: SecuredDeps, d: AuthDeps): void {
  const countCredentialFailure = credentialFailureHook(d);
  securedRoute(app, s, {
    method: 'GET',
    url: '/auth/me',
    permission: 'self:me',
    schema: {
      operationId: 'whoAmI',
      tags: ['auth'],
      response: {
        200: object({
          userId: uuid,
          organizationId: uuid,
          email: { type: 'string' },
          actorType: { type: 'string' },
          roles: stringList,
          permissions: stringList,
          mfaVerified: { type: 'boolean' },
          mfaEnrollmentRequired: { type: 'boolean' },
          mfaRequired: { type: 'boolean' },
        }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal: p }) => {
      const r = await tx.query<{ email: string }>('select email from ward.users where id = $1', [
        p.userId,
      ]);
      return {
        userId: p.userId,
        organizationId: p.orgId,
        email: r.rows[0]?.email ?? '',
        actorType: p.actorType,
        roles: p.roles,
        permissions: [...p.permissions].sort(),
        mfaVerified: p.mfaVerified,
        mfaEnrollmentRequired: p.restricted === 'mfa_enrollment',
        mfaRequired: mfaRequiredFor(p),
      };
    },
  });

  securedRoute(app, s, {
    method: 'POST',
    url: '/auth/logout',
    permission: 'self:logout',
    schema: { operationId: 'logout', tags: ['auth'], response: { 200: empty, ...errorResponses } },
    handler: async ({ tx, principal }) => {
      await logout(tx, principal);
      return {};
    },
  });

  securedRoute(app, s, {
    method: 'POST',
    url: '/auth/refresh',
    permission: 'self:sessions',
    schema: {
      operationId: 'refreshSession',
      tags: ['auth'],
      response: {
        200: object({ accessToken: { type: 'string' }, expiresAt: dateTime }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal, req }) => {
      const issued = await refreshSession(tx, d, principal, {
        ip: req.ip,
        userAgent: req.headers['user-agent'],
        requestId: req.id,
      });
      return { accessToken: issued.accessToken, expiresAt: issued.expiresAt };
    },
  });

  securedRoute(app, s, {
    method: 'GET',
    url: '/auth/sessions',
    permission: 'self:sessions',
    schema: {
      operationId: 'listMySessions',
      tags: ['auth'],
      response: {
        200: object({ items: { type: 'array', items: sessionSchema } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal }) => ({ items: await sessionsOf(tx, principal.userId) }),
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'DELETE',
    url: '/auth/sessions/:id',
    permission: 'self:sessions',
    schema: {
      operationId: 'revokeMySession',
      tags: ['auth'],
      params: idParams,
      response: { 200: empty, ...errorResponses },
    },
    handler: async ({ tx, principal, params }) => {
      await revokeOne(tx, principal, params.id, false);
      return {};
    },
  });

  securedRoute<{ currentPassword: string; newPassword: string; totpCode?: string }>(app, s, {
    method: 'POST',
    url: '/auth/password',
    permission: 'self:password',
    schema: {
      operationId: 'changePassword',
      tags: ['auth'],
      body: object(
        {
          currentPassword: { type: 'string', maxLength: 1024 },
          newPassword: { type: 'string', maxLength: 1024 },
          totpCode: code,
        },
        ['currentPassword', 'newPassword'],
      ),
      response: { 200: object({ sessionsEnded: { type: 'integer' } }), ...errorResponses },
    },
    afterFailure: countCredentialFailure,
    handler: ({ tx, principal, body }) => changePassword(tx, d, principal, body),
  });

  securedRoute(app, s, {
    method: 'GET',
    url: '/auth/mfa',
    permission: 'self:mfa_status',
    schema: {
      operationId: 'mfaStatus',
      tags: ['auth'],
      response: {
        200: object({
          enrolled: { type: 'boolean' },
          required: { type: 'boolean' },
          recoveryCodesLeft: { type: 'integer' },
        }),
        ...errorResponses,
      },
    },
    handler: ({ tx, principal }) => mfaStatus(tx, d, principal),
  });

  securedRoute(app, s, {
    method: 'POST',
    url: '/auth/mfa/totp',
    permission: 'self:mfa_enroll',
    schema: {
      operationId: 'startTotpEnrollment',
      tags: ['auth'],
      response: {
        200: object({ secret: { type: 'string' }, otpauthUri: { type: 'string' } }),
        ...errorResponses,
      },
    },
    handler: async ({ tx, principal }) => {
      if (!principal.sessionId) throw new WardError('forbidden');
      const r = await tx.query<{ email: string }>('select email from ward.users where id = $1', [
        principal.userId,
      ]);
      return startTotpEnrollment(tx, d, principal, r.rows[0]?.email ?? principal.userId);
    },
  });

  securedRoute<{ code: string }>(app, s, {
    method: 'POST',
    url: '/auth/mfa/totp/confirm',
    permission: 'self:mfa_enroll',
    schema: {
      operationId: 'confirmTotpEnrollment',
      tags: ['auth'],
      body: object({ code }),
      response: { 200: object({ recoveryCodes: stringList }), ...errorResponses },
    },
    afterFailure: countCredentialFailure,
    handler: ({ tx, principal, body }) => confirmTotpEnrollment(tx, d, principal, body.code),
  });

  securedRoute<{ code: string }>(app, s, {
    method: 'POST',
    url: '/auth/mfa/totp/remove',
    permission: 'self:mfa_manage',
    schema: {
      operationId: 'removeTotp',
      tags: ['auth'],
      body: object({ code }),
      response: { 200: empty, ...errorResponses },
    },
    afterFailure: countCredentialFailure,
    handler: async ({ tx, principal, body }) => {
      await removeTotp(tx, d, principal, body.code);
      return {};
    },
  });

  securedRoute<{ code: string }>(app, s, {
    method: 'POST',
    url: '/auth/mfa/recovery-codes',
    permission: 'self:mfa_manage',
    schema: {
      operationId: 'regenerateRecoveryCodes',
      tags: ['auth'],
      body: object({ code }),
      response: { 200: object({ recoveryCodes: stringList }), ...errorResponses },
    },
    afterFailure: countCredentialFailure,
    handler: ({ tx, principal, body }) => regenerateRecoveryCodes(tx, d, principal, body.code),
  });
}
