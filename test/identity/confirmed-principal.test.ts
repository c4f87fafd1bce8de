import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { confirmationStatement } from '../../src/modules/access/confirmation.ts';
import { isConfirmFailure } from '../../src/modules/access/principal-cache.ts';
import { securedRoute, type SecuredDeps } from '../../src/modules/access/secured-route.ts';
import { mintToken, parseToken } from '../../src/modules/auth/tokens.ts';
import { createUser } from '../../src/modules/tenancy/service.ts';
import type { Driver, Prelude } from '../../src/platform/db/types.ts';
import { object } from '../../src/platform/http/schemas.ts';
import {
  auth,
  countEvents,
  createPatientAs,
  createTestApi,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// A request whose principal the server authenticated recently confirms it in its opening
// (one statement that raises through ward.refuse_principal when anything differs, pipelined
// with the first statement) instead of awaiting a full
// authentication. These tests attack that path: every change that a full authentication would
// notice must fail or re-authenticate the very next request, and a request whose confirmation
// fails must not have run any of its statements.

/** Which opening each transaction used: full authentication, confirmation, or plain context. */
function openings(driver: Driver): string[] {
  const log: string[] = [];
  const original = driver.transaction.bind(driver);
  const kind = (p: Prelude | undefined) => {
    const text = typeof p === 'string' ? p : (p ?? []).map((s) => s.text).join(' ');
    if (text.includes('ward.refuse_principal')) return 'confirm';
    if (text.includes('ward.authenticate_')) return 'authenticate';
    return 'context';
  };
  driver.transaction = (fn, prelude, opts) => {
    log.push(kind(prelude));
    return original(fn, prelude, opts);
  };
  return log;
}

/** A route that appends one `+` to the organization's name: a write that must happen once. */
function appendMark(deps: SecuredDeps): FastifyPluginAsync {
  return (app) => {
    securedRoute(app, deps, {
      method: 'POST',
      url: '/test/mark',
      permission: 'organization:read',
      schema: { response: { 200: object({ name: { type: 'string' } }) } },
      handler: async ({ tx, principal }) => {
        const r = await tx.query<{ name: string }>(
          "update ward.organizations set name = name || '+' where id = $1 returning name",
          [principal.orgId],
        );
        return { name: r.rows[0]?.name ?? '' };
      },
    });
    return Promise.resolve();
  };
}

for (const engine of availableEngines()) {
  describe(`confirmed principals (${engine})`, () => {
    let api: TestApi;
    let secured: SecuredDeps;
    let orgId: string;
    let doctorId: string;
    let doctorEmail: string;
    let log: string[];

    const mark = (token: string) =>
      api.app.inject({ method: 'POST', url: '/api/v1/test/mark', headers: auth(token) });
    const orgName = async () =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ name: string }>('select name from ward.organizations where id = $1', [orgId]),
        )
      ).rows[0]?.name ?? '';
    const admin = (sql: string, params: unknown[]) =>
      api.t.db.asAdmin((tx) => tx.query(sql, params));
    /** An agent with a live API key scoped `organization:read`, as the admin would mint it. */
    const mintAgentKey = async (name: string) => {
      const agent = await createUser(api.t.db, {
        orgId,
        email: `agent.${Math.random().toString(36).slice(2, 8)}@example.test`,
        role: 'doctor',
        principalType: 'agent',
      });
      const minted = mintToken('api_key', orgId, randomUUID());
      await admin(
        `insert into ward.api_keys (organization_id, id, principal_id, name, token_hash, scopes, expires_at)
           values ($1, $2, $3, $4, $5, '{organization:read}', now() + interval '1 day')`,
        [orgId, minted.id, agent.id, name, minted.hash],
      );
      return minted;
    };
    /** A token whose principal is cached: logged in and used once. */
    const warmToken = async () => {
      const token = await tokenFor(api, doctorEmail);
      assert.equal((await mark(token)).statusCode, 200);
      return token;
    };

    before(async () => {
      api = await createTestApi((deps) => {
        secured = deps;
        return [appendMark(deps)];
      }, engine);
      const org = await seedOrg(api, 'Confirm', ['doctor']);
      orgId = org.orgId;
      doctorId = org.users['doctor']!.id;
      doctorEmail = org.users['doctor']!.email;
      log = openings(api.t.db.driver);
    });
    after(() => api.close());
    beforeEach(async () => {
      await admin("update ward.organizations set name = 'Org Confirm' where id = $1", [orgId]);
      await admin("update ward.users set status = 'active' where id = $1", [doctorId]);
    });

    test('a token is authenticated in full once, then confirmed in its opening', async () => {
      const token = await tokenFor(api, doctorEmail);
      log.length = 0;
      for (let i = 0; i < 3; i++) assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log, ['authenticate', 'confirm', 'confirm']);
      assert.equal(await orgName(), 'Org Confirm+++');
    });

    test('a revoked session fails the next request, and its statements never ran', async () => {
      const token = await warmToken();
      const session = parseToken(token)!;
      await admin('update ward.sessions set revoked_at = now() where id = $1', [session.id]);
      const before = await orgName();
      const failedBefore = await countEvents(api, 'auth.request', 'session_revoked');
      log.length = 0;
      const r = await mark(token);
      assert.equal(r.statusCode, 401, r.body);
      assert.deepEqual(log.slice(0, 2), ['confirm', 'authenticate']);
      assert.equal(await orgName(), before, 'the write queued behind the failed confirmation ran');
      assert.equal(await countEvents(api, 'auth.request', 'session_revoked'), failedBefore + 1);
      // And it stays refused.
      assert.equal((await mark(token)).statusCode, 401);
    });

    test('a disabled user and an idle session are refused on the next request', async () => {
      const token = await warmToken();
      await admin("update ward.users set status = 'disabled' where id = $1", [doctorId]);
      const before = await orgName();
      assert.equal((await mark(token)).statusCode, 401);
      assert.equal(await orgName(), before);
      await admin("update ward.users set status = 'active' where id = $1", [doctorId]);

      const idle = await warmToken();
      const beforeIdle = await orgName();
      await admin(
        "update ward.sessions set last_seen_at = now() - interval '2 hours' where id = $1",
        [parseToken(idle)!.id],
      );
      assert.equal((await mark(idle)).statusCode, 401);
      assert.equal(await orgName(), beforeIdle);
    });

    test('a permission removed after the principal was cached denies the next request', async () => {
      const token = await warmToken();
      const permission = async (add: boolean) =>
        admin(
          add
            ? `insert into ward.role_permissions (organization_id, role_id, permission_id)
                 select organization_id, id, 'organization:read' from ward.roles
                  where organization_id = $1 and name = 'doctor'`
            : `delete from ward.role_permissions rp using ward.roles r
                where rp.organization_id = $1 and r.organization_id = rp.organization_id
                  and r.id = rp.role_id and r.name = 'doctor' and rp.permission_id = 'organization:read'`,
          [orgId],
        );
      await permission(false);
      try {
        const before = await orgName();
        const r = await mark(token);
        assert.equal(r.statusCode, 403, r.body);
        assert.equal(await orgName(), before);
      } finally {
        await permission(true);
      }
      // Restored: allowed again, the write done exactly once.
      const before = await orgName();
      assert.equal((await mark(token)).statusCode, 200);
      assert.equal(await orgName(), `${before}+`);
    });

    test('a role added after the principal was cached: the request is re-authenticated and its write happens once', async () => {
      const token = await warmToken();
      await admin(
        `insert into ward.user_roles (organization_id, user_id, role_id)
           select organization_id, $2, id from ward.roles where organization_id = $1 and name = 'nurse'`,
        [orgId, doctorId],
      );
      try {
        const before = await orgName();
        log.length = 0;
        assert.equal((await mark(token)).statusCode, 200);
        assert.deepEqual(log, ['confirm', 'authenticate']);
        assert.equal(await orgName(), `${before}+`, 'the rolled-back attempt left no write');
        log.length = 0;
        assert.equal((await mark(token)).statusCode, 200);
        assert.deepEqual(log, ['confirm'], 'the new principal is cached');
      } finally {
        await admin(
          `delete from ward.user_roles ur using ward.roles r
            where ur.organization_id = $1 and ur.user_id = $2 and r.organization_id = ur.organization_id
              and r.id = ur.role_id and r.name = 'nurse'`,
          [orgId, doctorId],
        );
      }
    });

    test('another secret for a cached session id is refused: entries are keyed by the token hash', async () => {
      const token = await warmToken();
      const forged = mintToken('session', orgId, parseToken(token)!.id).token;
      log.length = 0;
      const before = await orgName();
      const r = await mark(forged);
      assert.equal(r.statusCode, 401);
      assert.ok(!log.includes('confirm'), `the forged token was confirmed: ${log.join(', ')}`);
      assert.ok(log.includes('authenticate'));
      assert.equal(await orgName(), before);
      assert.equal((await mark(token)).statusCode, 200, 'the real token is unaffected');
    });

    test('an expired session and a suspended organization are refused on the next request', async () => {
      const token = await warmToken();
      await admin(
        "update ward.sessions set expires_at = now() - interval '1 second' where id = $1",
        [parseToken(token)!.id],
      );
      const before = await orgName();
      assert.equal((await mark(token)).statusCode, 401);
      assert.equal(await orgName(), before);

      const other = await warmToken();
      const beforeSuspended = await orgName();
      await admin("update ward.organizations set status = 'suspended' where id = $1", [orgId]);
      try {
        assert.equal((await mark(other)).statusCode, 401);
        assert.equal(await orgName(), beforeSuspended);
      } finally {
        await admin("update ward.organizations set status = 'active' where id = $1", [orgId]);
      }
    });

    test('a settings change or a new policy version re-authenticates the next request once', async () => {
      const token = await warmToken();
      await admin(
        `update ward.organizations set settings = settings || '{"sessionIdleMinutes": 20}'::jsonb where id = $1`,
        [orgId],
      );
      log.length = 0;
      assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log, ['confirm', 'authenticate']);
      await admin(
        'update ward.organizations set policy_version = policy_version + 1 where id = $1',
        [orgId],
      );
      log.length = 0;
      assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log, ['confirm', 'authenticate']);
      log.length = 0;
      assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log, ['confirm']);
    });

    test('break-glass started after the principal was cached is seen by the next request', async () => {
      const patientId = await createPatientAs(api, await tokenFor(api, doctorEmail), 'MRN-CONF-1');
      const token = await warmToken();
      await admin(
        `insert into ward.break_glass_sessions (organization_id, user_id, patient_id, reason, expires_at)
           values ($1, $2, $3, 'cached principal test, reason of twenty chars', now() + interval '5 minutes')`,
        [orgId, doctorId, patientId],
      );
      try {
        log.length = 0;
        assert.equal((await mark(token)).statusCode, 200);
        assert.deepEqual(log, ['confirm', 'authenticate']);
      } finally {
        await admin('update ward.break_glass_sessions set ended_at = now() where user_id = $1', [
          doctorId,
        ]);
      }
    });

    test('the version counter only moves forward', async () => {
      await assert.rejects(
        admin('update ward.organizations set auth_version = auth_version - 1 where id = $1', [
          orgId,
        ]),
        (e: unknown) => (e as { code?: string }).code === '22023',
      );
    });

    test('API keys: confirmed while unchanged; revoked, re-scoped or expired keys fail the next request', async () => {
      const minted = await mintAgentKey('cache test');
      log.length = 0;
      assert.equal((await mark(minted.token)).statusCode, 200);
      assert.equal((await mark(minted.token)).statusCode, 200);
      assert.deepEqual(
        log.filter((x) => x !== 'context'),
        ['authenticate', 'confirm'],
      );
      // Scopes narrowed: re-authenticated, and now outside the key's scope.
      await admin("update ward.api_keys set scopes = '{user:read}' where id = $1", [minted.id]);
      const before = await orgName();
      assert.equal((await mark(minted.token)).statusCode, 403);
      assert.equal(await orgName(), before);
      await admin("update ward.api_keys set scopes = '{organization:read}' where id = $1", [
        minted.id,
      ]);
      assert.equal((await mark(minted.token)).statusCode, 200);
      await admin('update ward.api_keys set revoked_at = now() where id = $1', [minted.id]);
      const beforeRevoked = await orgName();
      assert.equal((await mark(minted.token)).statusCode, 401);
      assert.equal(await orgName(), beforeRevoked);
    });

    test('a change of MFA state or restriction re-authenticates the next request once', async () => {
      const token = await warmToken();
      const id = parseToken(token)!.id;
      const mfa = async () =>
        (
          await api.t.db.asAdmin((tx) =>
            tx.query<{ mfa_verified: boolean }>(
              'select mfa_verified from ward.sessions where id = $1',
              [id],
            ),
          )
        ).rows[0]?.mfa_verified;
      const was = await mfa();
      await admin('update ward.sessions set mfa_verified = not mfa_verified where id = $1', [id]);
      log.length = 0;
      assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log.slice(0, 2), ['confirm', 'authenticate']);
      log.length = 0;
      assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log, ['confirm'], 'the new state is cached');
      assert.notEqual(await mfa(), was);
      // A restriction placed on the session (MFA enrollment required) is seen at once.
      await admin("update ward.sessions set restricted = 'mfa_enrollment' where id = $1", [id]);
      const before = await orgName();
      log.length = 0;
      const r = await mark(token);
      assert.deepEqual(log.slice(0, 2), ['confirm', 'authenticate']);
      assert.equal(r.statusCode, 403, r.body);
      assert.equal(await orgName(), before);
      await admin('update ward.sessions set restricted = null where id = $1', [id]);
    });

    test('the idle window slides on a confirmed request, and a refused one writes nothing', async () => {
      const token = await warmToken();
      const id = parseToken(token)!.id;
      const age = async () =>
        Number(
          (
            await api.t.db.asAdmin((tx) =>
              tx.query<{ s: string }>(
                'select extract(epoch from now() - last_seen_at) as s from ward.sessions where id = $1',
                [id],
              ),
            )
          ).rows[0]?.s,
        );
      await admin(
        "update ward.sessions set last_seen_at = now() - interval '10 minutes' where id = $1",
        [id],
      );
      log.length = 0;
      assert.equal((await mark(token)).statusCode, 200);
      assert.deepEqual(log, ['confirm']);
      assert.ok((await age()) < 60, 'last_seen_at was not moved by the confirmation');
      // Within 30 s nothing is written: the confirmation stays a read.
      await admin(
        "update ward.sessions set last_seen_at = now() - interval '10 seconds' where id = $1",
        [id],
      );
      assert.equal((await mark(token)).statusCode, 200);
      const a = await age();
      assert.ok(a >= 9, `rewritten within 30 s (age ${a} s)`);
      // Revoked with a stale window: refused, and the window was not moved either.
      await admin(
        "update ward.sessions set last_seen_at = now() - interval '5 minutes', revoked_at = now() where id = $1",
        [id],
      );
      assert.equal((await mark(token)).statusCode, 401);
      assert.ok((await age()) >= 299, 'a refused request moved the idle window');
    });

    test('the confirming statement refuses every mismatch it is given', async () => {
      const token = await warmToken();
      const session = parseToken(token)!;
      const other = await seedOrg(api, 'ConfirmOther', ['doctor']);
      const known = secured.principals?.get(session);
      assert.ok(known, 'the warm token is cached');
      const basis = known.basis;
      const ctx = {
        orgId,
        userId: basis.userId,
        sessionId: session.id,
        actorType: 'user' as const,
      };
      const attempt = (c: typeof ctx, values: readonly unknown[] = basis.values) =>
        api.t.db.withConfirmedContext(
          c,
          confirmationStatement(session, { ...basis, values }),
          (tx) => tx.query('select 1'),
        );
      await attempt(ctx); // the genuine basis is confirmed
      const refused: [string, () => Promise<unknown>][] = [
        ['another organization', () => attempt({ ...ctx, orgId: other.orgId })],
        [
          'another user in the context',
          () => attempt({ ...ctx, userId: other.users['doctor']!.id }),
        ],
        ['another session in the context', () => attempt({ ...ctx, sessionId: randomUUID() })],
        [
          'a wrong secret',
          () => attempt(ctx, [session.id, Buffer.alloc(32, 1), ...basis.values.slice(2)]),
        ],
        [
          'another MFA state',
          () =>
            attempt(ctx, [session.id, session.hash, !basis.values[2], ...basis.values.slice(3)]),
        ],
        [
          'another restriction',
          () =>
            attempt(ctx, [...basis.values.slice(0, 3), 'mfa_enrollment', ...basis.values.slice(4)]),
        ],
        [
          'a stale auth_version',
          () =>
            attempt(ctx, [
              ...basis.values.slice(0, 4),
              String(Number(basis.values[4]) - 1),
              basis.values[5],
            ]),
        ],
        [
          'a stale policy_version',
          () => attempt(ctx, [...basis.values.slice(0, 5), String(Number(basis.values[5]) + 1)]),
        ],
      ];
      for (const [why, run] of refused) {
        await assert.rejects(run, (e: unknown) => isConfirmFailure(e), why);
      }
    });

    test('the confirming statement for an API key refuses every mismatch it is given', async () => {
      const minted = await mintAgentKey('statement test');
      assert.equal((await mark(minted.token)).statusCode, 200);
      const key = parseToken(minted.token)!;
      const known = secured.principals?.get(key);
      assert.ok(known, 'the key is cached');
      const basis = known.basis;
      const other = await seedOrg(api, 'KeyOther', ['doctor']);
      const ctx = { orgId, userId: basis.userId, actorType: 'agent' as const };
      const attempt = (c: typeof ctx, values: readonly unknown[] = basis.values) =>
        api.t.db.withConfirmedContext(c, confirmationStatement(key, { ...basis, values }), (tx) =>
          tx.query('select 1'),
        );
      await attempt(ctx); // the genuine basis is confirmed
      const [id, hash, scopes, authVersion, policyVersion] = basis.values;
      const refused: [string, () => Promise<unknown>][] = [
        ['another organization', () => attempt({ ...ctx, orgId: other.orgId })],
        ['another principal in the context', () => attempt({ ...ctx, userId: doctorId })],
        [
          'a wrong secret',
          () => attempt(ctx, [id, Buffer.alloc(32, 2), scopes, authVersion, policyVersion]),
        ],
        [
          'other scopes',
          () =>
            attempt(ctx, [
              id,
              hash,
              ['organization:read', 'user:read'],
              authVersion,
              policyVersion,
            ]),
        ],
        [
          'a stale auth_version',
          () => attempt(ctx, [id, hash, scopes, String(Number(authVersion) - 1), policyVersion]),
        ],
        [
          'a stale policy_version',
          () => attempt(ctx, [id, hash, scopes, authVersion, String(Number(policyVersion) + 1)]),
        ],
      ];
      for (const [why, run] of refused) {
        await assert.rejects(run, (e: unknown) => isConfirmFailure(e), why);
      }
    });

    test('logging out ends the session at once for the cached principal', async () => {
      const token = await warmToken();
      const out = await api.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: auth(token),
      });
      assert.ok(out.statusCode < 300, out.body);
      const before = await orgName();
      assert.equal((await mark(token)).statusCode, 401);
      assert.equal(await orgName(), before);
    });
  });
}
