import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { totpCode, base32Decode } from '../../src/modules/auth/totp.ts';
import { purgeExpiredKeys } from '../../src/platform/http/idempotency.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

describe('Idempotency-Key on creates', () => {
  let api: TestApi;
  let admin: string;
  let secret: Buffer;
  let orgId: string;
  before(async () => {
    api = await createTestApi();
    const org = await seedOrg(api, 'Idem', ['admin']);
    orgId = org.orgId;
    admin = await tokenFor(api, org.users['admin']!.email);
    secret = base32Decode((await enrollTotp(api, admin, Date.now() - 30_000)).secret);
  });
  after(() => api.close());

  const countUsers = async (email: string) =>
    (
      await api.t.db.asAdmin((tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from ward.users where email = $1', [
          email,
        ]),
      )
    ).rows[0]?.n;

  const create = (key: string | undefined, payload: object) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { ...auth(admin), ...(key ? { 'idempotency-key': key } : {}) },
      payload,
    });

  test('a retry returns the first result; a different body is 422; nothing is created twice', async () => {
    // A service account: its creation carries no secret, so a retry replays it whole.
    const body = { email: 'idem.one@example.test', role: 'auditor', principalType: 'service' };
    const first = await create('key-1', body);
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const again = await create('key-1', body);
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json(), first.json());
    assert.equal(await countUsers(body.email), 1);

    const other = await create('key-1', { ...body, email: 'idem.two@example.test' });
    assert.equal(other.statusCode, 422);
    assert.equal(other.json<{ code: string }>().code, 'idempotency_key_reused');
    assert.equal(await countUsers('idem.two@example.test'), 0);
    for (const bad of ['has space', 'x'.repeat(129), 'ünï']) {
      assert.equal((await create(bad, body)).statusCode, 400, `key ${JSON.stringify(bad)}`);
    }
    // The store holds hashes and ids only, no response bodies.
    const stored = await api.t.db.asAdmin((tx) =>
      tx.query<{ row: string }>(
        "select row_to_json(k)::text as row from ward.idempotency_keys k where idempotency_key = 'key-1'",
      ),
    );
    assert.doesNotMatch(stored.rows[0]?.row ?? '', /idem\.one/);
  });

  test('concurrent retries with one key create once', async () => {
    const body = { email: 'idem.race@example.test', role: 'auditor', principalType: 'service' };
    const results = await Promise.all(Array.from({ length: 5 }, () => create('race-key', body)));
    assert.deepEqual(
      results.map((r) => r.statusCode),
      [201, 201, 201, 201, 201],
      results.map((r) => r.body).join('\n'),
    );
    assert.equal(new Set(results.map((r) => r.json<{ id: string }>().id)).size, 1);
    assert.equal(await countUsers(body.email), 1);
  });

  test("a person's activation token is never replayed: the retry says how to get a new one", async () => {
    const body = { email: 'idem.person@example.test', role: 'nurse' };
    const first = await create('person-1', body);
    assert.equal(first.statusCode, 201, first.body);
    const token = first.json<{ activationToken: string }>().activationToken;
    assert.match(token, /^wac_/);
    const again = await create('person-1', body);
    assert.equal(again.statusCode, 409);
    assert.equal(again.json<{ code: string }>().code, 'idempotency_replay_unavailable');
    assert.doesNotMatch(again.body, new RegExp(token));
    assert.match(again.body, /activation/);
    assert.equal(await countUsers(body.email), 1);
  });

  test('policies and grants replay; an API key is never created twice nor its secret replayed', async () => {
    const policy = { name: 'idem-policy', document: { effect: 'deny', actions: ['x:read'] } };
    const p = (k: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/access-policies',
        headers: { ...auth(admin), 'idempotency-key': k },
        payload: policy,
      });
    const p1 = await p('pol-1');
    const p2 = await p('pol-1');
    assert.equal(p1.statusCode, 201, p1.body);
    assert.equal(p2.headers['idempotent-replayed'], 'true');
    assert.equal(p2.json<{ id: string }>().id, p1.json<{ id: string }>().id);

    const agent = await create(undefined, {
      email: 'idem.agent@example.test',
      role: 'auditor',
      principalType: 'agent',
    });
    const keyBody = {
      principalId: agent.json<{ id: string }>().id,
      name: 'idem key',
      scopes: ['user:read'],
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      totpCode: totpCode(secret),
    };
    const k = () =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/api-keys',
        headers: { ...auth(admin), 'idempotency-key': 'apikey-1' },
        payload: keyBody,
      });
    const k1 = await k();
    assert.equal(k1.statusCode, 201, k1.body);
    const k2 = await k();
    assert.equal(k2.statusCode, 409);
    assert.equal(k2.json<{ code: string }>().code, 'idempotency_replay_unavailable');
    assert.doesNotMatch(k2.body, new RegExp(k1.json<{ apiKey: string }>().apiKey));
    const keys = await api.t.db.asAdmin((tx) =>
      tx.query<{ n: number }>(
        "select count(*)::int as n from ward.api_keys where name = 'idem key' and organization_id = $1",
        [orgId],
      ),
    );
    assert.equal(keys.rows[0]?.n, 1);
  });

  test('expired keys are purged by the job and no longer replay', async () => {
    const body = { email: 'idem.old@example.test', role: 'nurse' };
    assert.equal((await create('old-key', body)).statusCode, 201);
    await api.t.db.asAdmin((tx) =>
      tx.query(
        "update ward.idempotency_keys set expires_at = now() - interval '1 second' where idempotency_key = 'old-key'",
      ),
    );
    const purged = await api.t.db.asSystem(
      { name: 'idempotency.purge', reason: 'test' },
      purgeExpiredKeys,
    );
    assert.ok(purged >= 1);
    const retry = await create('old-key', body);
    assert.equal(
      retry.statusCode,
      409,
      'after expiry the create runs again (and hits the unique email)',
    );
  });
});

describe('the stored request hash', () => {
  let api: TestApi;
  before(async () => {
    api = await createTestApi();
  });
  after(() => api.close());

  /** An MFA-enrolled admin of a new organization. */
  const adminOf = async (label: string) => {
    const org = await seedOrg(api, label, ['admin']);
    const token = await tokenFor(api, org.users['admin']!.email);
    await enrollTotp(api, token);
    return { orgId: org.orgId, token };
  };
  const storedHash = async (orgId: string, key: string) => {
    const r = await api.t.db.asAdmin((tx) =>
      tx.query<{ request_hash: Buffer }>(
        'select request_hash from ward.idempotency_keys where organization_id = $1 and idempotency_key = $2',
        [orgId, key],
      ),
    );
    const hash = r.rows[0]?.request_hash;
    assert.ok(hash, 'the key was stored');
    return Buffer.from(hash);
  };

  test('is keyed per organization: not a plain digest of the body, and not comparable across tenants', async () => {
    const a = await adminOf('HashA');
    const b = await adminOf('HashB');
    // A body whose values could be guessed (an SSN has only 10^9): a plain digest of it, once
    // stolen, gives them back to whoever tries them all.
    const body = {
      name: 'idem-ssn-123-45-6789',
      document: { effect: 'deny', actions: ['x:read'] },
    };
    const post = (token: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/access-policies',
        headers: { ...auth(token), 'idempotency-key': 'hash-key-1' },
        payload: body,
      });
    const first = await post(a.token);
    assert.equal(first.statusCode, 201, first.body);
    assert.equal((await post(b.token)).statusCode, 201);
    const ha = await storedHash(a.orgId, 'hash-key-1');
    const hb = await storedHash(b.orgId, 'hash-key-1');
    const plain = createHash('sha256').update(JSON.stringify(body)).digest();
    assert.equal(ha.length, 32);
    assert.ok(!ha.equals(plain), 'the hash is not SHA-256 of the body');
    assert.ok(!ha.equals(hb), 'two organizations hash the same body differently');

    // Replay is unchanged: the same body replays, another body is 422.
    const again = await post(a.token);
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json<{ id: string }>().id, first.json<{ id: string }>().id);
    const other = await api.app.inject({
      method: 'POST',
      url: '/api/v1/access-policies',
      headers: { ...auth(a.token), 'idempotency-key': 'hash-key-1' },
      payload: { ...body, name: 'idem-ssn-123-45-6780' },
    });
    assert.equal(other.statusCode, 422);
    assert.equal(other.json<{ code: string }>().code, 'idempotency_key_reused');
  });

  test('a row hashed the old way (plain SHA-256) no longer matches: the retry is 422, never a second create', async () => {
    const a = await adminOf('HashOld');
    const body = { name: 'idem-old-hash', document: { effect: 'deny', actions: ['x:read'] } };
    const post = () =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/access-policies',
        headers: { ...auth(a.token), 'idempotency-key': 'old-hash-1' },
        payload: body,
      });
    assert.equal((await post()).statusCode, 201);
    // What a server before the upgrade stored for the same request.
    await api.t.db.asAdmin((tx) =>
      tx.query(
        'update ward.idempotency_keys set request_hash = $3 where organization_id = $1 and idempotency_key = $2',
        [a.orgId, 'old-hash-1', createHash('sha256').update(JSON.stringify(body)).digest()],
      ),
    );
    const retry = await post();
    assert.equal(retry.statusCode, 422);
    assert.equal(retry.json<{ code: string }>().code, 'idempotency_key_reused');
    const n = await api.t.db.asAdmin((tx) =>
      tx.query<{ n: number }>(
        "select count(*)::int as n from ward.access_policies where organization_id = $1 and name = 'idem-old-hash'",
        [a.orgId],
      ),
    );
    assert.equal(n.rows[0]?.n, 1);
  });
});
