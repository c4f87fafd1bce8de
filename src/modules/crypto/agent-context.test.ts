import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fixtureCrypto } from '../../../test/helpers/crypto.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { seedTenant, type TenantFixture } from '../../../test/helpers/fixtures.ts';
import type { Tx } from '../../platform/db/index.ts';
import { readAgentContext, storeAgentContext } from './agent-context.ts';

// An agent's context (seed 3) is stored for a stated purpose until it expires: a context
// without a real purpose is refused, and an expired one is gone.
let t: TestDatabase;
let a: TenantFixture;
before(async () => {
  t = await createTestDatabase();
  a = await seedTenant(t.db, 'AgentCtx');
});
after(async () => t.close());

const asAgent = <T>(fn: (tx: Tx) => Promise<T>): Promise<T> =>
  t.db.withContext({ orgId: a.orgId, userId: a.agentId, actorType: 'agent' }, fn);

test('an agent context needs a known purpose of use', async () => {
  for (const purpose of ['MADEUP', 'treat', 'ETREAT']) {
    await assert.rejects(
      asAgent((tx) =>
        storeAgentContext(tx, fixtureCrypto.codec, {
          orgId: a.orgId,
          agentId: a.agentId,
          purpose,
          context: { question: 'Is physiotherapy covered?' },
          expiresAt: new Date(Date.now() + 60_000),
        }),
      ),
      (e: unknown) => (e as { code?: string }).code === 'validation_failed',
      purpose,
    );
  }
});

test('an expired agent context is not read back', async () => {
  const id = await asAgent((tx) =>
    storeAgentContext(tx, fixtureCrypto.codec, {
      orgId: a.orgId,
      agentId: a.agentId,
      purpose: 'HPAYMT',
      context: { question: 'Is physiotherapy covered?' },
      expiresAt: new Date(Date.now() + 60_000),
    }),
  );
  assert.ok(await asAgent((tx) => readAgentContext(tx, fixtureCrypto.codec, a.orgId, id)));
  await t.db.asAdmin((tx) =>
    tx.query(
      "update ward.agent_policy_context set expires_at = now() - interval '1 second' where id = $1",
      [id],
    ),
  );
  assert.equal(
    await asAgent((tx) => readAgentContext(tx, fixtureCrypto.codec, a.orgId, id)),
    undefined,
  );
});
