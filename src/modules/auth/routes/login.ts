import type { FastifyInstance } from 'fastify';
import { dateTime, errorResponses, object, problem } from '../../../platform/http/schemas.ts';
import { activate } from '../activation-service.ts';
import { completeChallenge } from '../challenge-service.ts';
import type { AuthDeps } from '../deps.ts';
import { login } from '../login-service.ts';

const tokenResponse = object(
  {
    accessToken: { type: 'string' },
    expiresAt: dateTime,
    mfaRequired: { type: 'boolean' },
    mfaToken: { type: 'string' },
    mfaEnrollmentRequired: { type: 'boolean' },
  },
  ['expiresAt'],
);

/** The unauthenticated entry points: password login, the MFA second step, account activation. */
export function registerLoginRoutes(app: FastifyInstance, d: AuthDeps): void {
  app.post<{ Body: { email: string; password: string; totpCode?: string } }>(
    '/auth/login',
    {
      schema: {
        operationId: 'login',
        tags: ['auth'],
        summary: 'Log in with email and password (and a TOTP code when enrolled)',
        body: object(
          {
            email: { type: 'string', minLength: 3, maxLength: 254 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            totpCode: { type: 'string', pattern: '^[0-9]{6}$' },
          },
          ['email', 'password'],
        ),
        response: { 200: tokenResponse, 400: problem, 401: problem, 429: problem },
      },
    },
    async (req) => {
      const r = await login(d, req.body, {
        ip: req.ip,
        userAgent: req.headers['user-agent'],
        requestId: req.id,
      });
      return r.mfaRequired
        ? { mfaRequired: true, mfaToken: r.mfaToken, expiresAt: r.expiresAt }
        : {
            accessToken: r.accessToken,
            expiresAt: r.expiresAt,
            mfaRequired: false,
            mfaEnrollmentRequired: r.mfaEnrollmentRequired,
          };
    },
  );

  app.post<{ Body: { mfaToken: string; code?: string; recoveryCode?: string } }>(
    '/auth/mfa/verify',
    {
      schema: {
        operationId: 'verifyMfa',
        tags: ['auth'],
        summary: 'Complete an MFA login with a TOTP code or a recovery code',
        body: {
          ...object(
            {
              mfaToken: { type: 'string', maxLength: 200 },
              code: { type: 'string', pattern: '^[0-9]{6}$' },
              recoveryCode: { type: 'string', maxLength: 40 },
            },
            ['mfaToken'],
          ),
          oneOf: [{ required: ['code'] }, { required: ['recoveryCode'] }],
        },
        response: {
          200: object({ accessToken: { type: 'string' }, expiresAt: dateTime }),
          ...errorResponses,
          429: problem,
        },
      },
    },
    async (req) => {
      const s = await completeChallenge(d, req.body, {
        ip: req.ip,
        userAgent: req.headers['user-agent'],
        requestId: req.id,
      });
      return { accessToken: s.accessToken, expiresAt: s.expiresAt };
    },
  );

  app.post<{ Body: { token: string; password: string } }>(
    '/auth/activate',
    {
      schema: {
        operationId: 'activateAccount',
        tags: ['auth'],
        summary: 'Set the first password of an invited account with its one-time activation token',
        body: object({
          token: { type: 'string', maxLength: 200 },
          password: { type: 'string', minLength: 1, maxLength: 1024 },
        }),
        response: { 200: object({ email: { type: 'string' } }), ...errorResponses, 429: problem },
      },
    },
    (req) =>
      activate(d, req.body, {
        ip: req.ip,
        userAgent: req.headers['user-agent'],
        requestId: req.id,
      }),
  );
}
