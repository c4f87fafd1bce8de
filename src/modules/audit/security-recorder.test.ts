import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createLogger } from '../../platform/log.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { testCrypto } from '../../../test/helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../../../test/helpers/fixtures.ts';
import { readAgentContext } from '../crypto/agent-context.ts';
import { createSecurityRecorder } from './security-recorder.ts';

let t: TestDatabase;
let a: TenantFixture;
before(async () => {
  t = await createTestDatabase();
  a = await seedTenant(t.db, 'SR');
});
after(async () => t.close());

test('a failed decryption inside a request is recorded in the audit trail after its rollback', async () => {
  const crypto = testCrypto();
  const recorder = createSecurityRecorder(t.db, createLogger('silent'));
  crypto.onSecurityEvent((e) => {
    recorder.handle(e);
  });
  // Tamper with the stored ciphertext (one bit), then read it in a tenant transaction.
  await t.db.asAdmin((tx) =>
    tx.query(
      `update ward.agent_policy_context set context_encrypted = set_byte(context_encrypted, 30, get_byte(context_encrypted, 30) # 1) where id = $1`,
      [a.agentContextId],
    ),
  );
  await assert.rejects(
    t.db.withContext(
      { orgId: a.orgId, userId: a.agentId, actorType: 'agent', requestId: `req-${randomUUID()}` },
      (tx) => readAgentContext(tx, crypto.codec, a.orgId, a.agentContextId),
    ),
  );
  await recorder.drain();
  const r = await t.db.asAdmin((tx) =>
    tx.query<{
      entity_id: string;
      outcome: string;
      organization_id: string;
      metadata: { column: string };
    }>(
      "select entity_id, outcome, organization_id::text, metadata from audit.events where event_type = 'crypto.decrypt_failed'",
    ),
  );
  assert.equal(r.rows.length, 1);
  assert.equal(r.rows[0]!.entity_id, a.agentContextId);
  assert.equal(r.rows[0]!.organization_id, a.orgId);
  assert.equal(r.rows[0]!.outcome, '8');
  assert.equal(r.rows[0]!.metadata.column, 'context_encrypted');
});
