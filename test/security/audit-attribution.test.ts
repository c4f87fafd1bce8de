import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { record } from '../../src/modules/audit/record.ts';
import type { RequestContext, Tx } from '../../src/platform/db/index.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import { classify, show, type ProbeOutcome } from '../helpers/tenant-probe.ts';

// ward_app writes its own organization's audit events; RLS (events_tenant, migration 0015)
// binds who the event says acted to the transaction's context, so a request (or an injected
// statement in one) cannot attribute its events to the system, another user or another
// session. The legitimate paths that name an actor the context does not carry yet (failed
// logins, MFA completion) keep working and are exercised here too.
for (const engine of availableEngines()) {
  describe(`audit actor attribution (${engine})`, () => {
    let t: TestDatabase;
    let a: TenantFixture;
    let b: TenantFixture;
    const session = randomUUID();

    before(async () => {
      t = await createTestDatabase({ engine });
      a = await seedTenant(t.db, 'AT-A');
      b = await seedTenant(t.db, 'AT-B');
    });
    after(async () => t.close());

    const write = async (ctx: RequestContext, fn: (tx: Tx) => Promise<unknown>) => {
      try {
        await t.db.withContext(ctx, fn);
        return 'written';
      } catch (e) {
        const o: ProbeOutcome = classify(e);
        return o.kind === 'rls' ? 'rls' : show(o);
      }
    };
    const insert = (ctx: RequestContext, cols: Record<string, unknown>) => {
      const names = ['action', 'event_type', ...Object.keys(cols)];
      const values = ['R', 'forge.test', ...Object.values(cols)];
      return write(ctx, (tx) =>
        tx.query(
          `insert into audit.events (${names.join(', ')})
           values (${names.map((_, i) => `$${String(i + 1)}`).join(', ')})`,
          values,
        ),
      );
    };
    const admin = (): RequestContext => ({
      orgId: a.orgId,
      userId: a.adminId,
      actorType: 'user',
      sessionId: session,
    });

    test('an authenticated request writes events only as itself', async () => {
      assert.equal(
        await write(admin(), (tx) => record(tx, { action: 'R', eventType: 'x.read' })),
        'written',
      );
      assert.equal(await insert(admin(), {}), 'written');
      // Another actor type, another user (of this or another organization), no actor at all.
      assert.equal(await insert(admin(), { actor_type: 'system' }), 'rls');
      assert.equal(await insert(admin(), { actor_type: 'agent' }), 'rls');
      assert.equal(await insert(admin(), { actor_id: a.doctorId }), 'rls');
      assert.equal(await insert(admin(), { actor_id: b.adminId }), 'rls');
      assert.equal(await insert(admin(), { actor_id: null }), 'rls');
      // Another session, or none.
      assert.equal(await insert(admin(), { session_id: randomUUID() }), 'rls');
      assert.equal(await insert(admin(), { session_id: null }), 'rls');
      // Through the recorder's own overrides, too.
      assert.equal(
        await write(admin(), (tx) =>
          record(tx, {
            action: 'R',
            eventType: 'x.read',
            actorType: 'system',
            actorId: a.doctorId,
          }),
        ),
        'rls',
      );
    });

    test('an agent writes as the agent and may name whom it acts for', async () => {
      const agent: RequestContext = { orgId: a.orgId, userId: a.agentId, actorType: 'agent' };
      assert.equal(
        await write(agent, (tx) =>
          record(tx, { action: 'R', eventType: 'x.read', onBehalfOf: a.doctorId }),
        ),
        'written',
      );
      assert.equal(await insert(agent, { actor_type: 'user' }), 'rls');
      assert.equal(await insert(agent, { actor_id: a.doctorId }), 'rls');
    });

    test('a system job under a tenant context writes as the system, never as a user', async () => {
      const job: RequestContext = { orgId: a.orgId, actorType: 'system' };
      assert.equal(
        await write(job, (tx) => record(tx, { action: 'E', eventType: 'x.job' })),
        'written',
      );
      assert.equal(await insert(job, { actor_type: 'user' }), 'rls');
      assert.equal(await insert(job, { actor_id: a.doctorId }), 'rls');
    });

    test('before authentication an actor may be named only for auth events about own users', async () => {
      const anon: RequestContext = { orgId: a.orgId, actorType: 'user' };
      const failed = (actorId: string, eventType = 'auth.login') =>
        write(anon, (tx) =>
          record(tx, {
            action: 'E',
            eventType,
            outcome: '4',
            outcomeReason: 'bad_password',
            actorId,
          }),
        );
      // The legitimate path: a failed login names the account it tried (login-service).
      assert.equal(await failed(a.doctorId), 'written');
      assert.equal(await failed(a.doctorId, 'auth.request'), 'written');
      // Not a user of this organization, not a user at all, not an auth event.
      assert.equal(await failed(b.doctorId), 'rls');
      assert.equal(await failed(randomUUID()), 'rls');
      assert.equal(await failed(a.doctorId, 'patient.read'), 'rls');
      // A successful login must point at the session it opened in this very transaction.
      const login = (sessionUser: string, actorId: string) =>
        write(anon, async (tx) => {
          const s = await tx.query<{ id: string }>(
            `insert into ward.sessions (organization_id, user_id, token_hash, expires_at)
             values ($1, $2, sha256(gen_random_uuid()::text::bytea), now() + interval '1 hour') returning id`,
            [a.orgId, sessionUser],
          );
          await record(tx, {
            action: 'E',
            eventType: 'auth.login',
            outcome: '0',
            entityType: 'Session',
            entityId: s.rows[0]!.id,
            actorType: 'user',
            actorId,
          });
        });
      // MFA completion (challenge-service): the session opened here is the actor's own.
      assert.equal(await login(a.doctorId, a.doctorId), 'written');
      assert.equal(await login(a.doctorId, a.adminId), 'rls');
      assert.equal(
        await write(anon, (tx) =>
          record(tx, {
            action: 'E',
            eventType: 'auth.login',
            outcome: '0',
            entityType: 'Session',
            entityId: randomUUID(),
            actorId: a.doctorId,
          }),
        ),
        'rls',
      );
      // Without an actor, an unauthenticated event is fine (the actor is simply unknown).
      assert.equal(await insert(anon, {}), 'written');
      assert.equal(await insert(anon, { actor_type: 'system' }), 'rls');
    });
  });
}
