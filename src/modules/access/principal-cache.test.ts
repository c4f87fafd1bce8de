import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mintToken, parseToken } from '../auth/tokens.ts';
import { isConfirmFailure, PrincipalCache } from './principal-cache.ts';
import { principalFromRow } from './principal-row.ts';
import type { Principal } from './principal.ts';

const org = '11111111-1111-4111-8111-111111111111';
const token = (id: string) => parseToken(mintToken('session', org, id).token)!;
const ids = (n: number) => `22222222-2222-4222-8222-${String(n).padStart(12, '0')}`;
const row = (extra: Record<string, unknown> = {}) => ({
  failure: null,
  user_id: ids(999),
  principal_type: 'human',
  mfa_verified: true,
  restricted: null,
  roles: ['doctor'],
  permissions: ['patient:read'],
  policy_version: '3',
  auth_version: '7',
  expires_at: new Date(10_000_000),
  ...extra,
});

const derivedFrom = principalFromRow(row(), token(ids(0)), undefined);
assert.ok('principal' in derivedFrom);
const derived: Principal = derivedFrom.principal;

describe('principal cache', () => {
  test('remembers successful rows with what a confirmation compares, and only those', () => {
    const c = new PrincipalCache({ now: () => 1_000 });
    const ok = token(ids(1));
    c.remember(ok, row(), derived);
    const hit = c.get(ok);
    assert.equal(hit?.basis.userId, ids(999));
    assert.deepEqual(hit.basis.values, [ok.id, ok.hash, true, null, '7', '3']);
    assert.equal(hit.principal, derived);
    const refused: [string, Record<string, unknown>][] = [
      ['a failure', { failure: 'session_revoked' }],
      ['no auth_version', { auth_version: undefined }],
      ['a malformed version', { policy_version: '1; drop' }],
      ['no MFA state', { mfa_verified: undefined }],
      ['no user', { user_id: null }],
    ];
    refused.forEach(([why, extra], i) => {
      const t = token(ids(10 + i));
      c.remember(t, row(extra), derived);
      assert.equal(c.get(t), undefined, why);
    });
  });

  test('an API key is remembered with its scopes, and not without them', () => {
    const c = new PrincipalCache({ now: () => 1_000 });
    const key = parseToken(mintToken('api_key', org, ids(5)).token)!;
    c.remember(key, row({ scopes: ['patient:read'] }), derived);
    assert.deepEqual(c.get(key)?.basis.values, [key.id, key.hash, ['patient:read'], '7', '3']);
    const other = parseToken(mintToken('api_key', org, ids(6)).token)!;
    c.remember(other, row(), derived);
    assert.equal(c.get(other), undefined);
  });

  test('another secret for the same session id misses', () => {
    const c = new PrincipalCache({ now: () => 1_000 });
    c.remember(token(ids(1)), row(), derived);
    assert.equal(c.get(token(ids(1))), undefined);
  });

  test('entries age out, and never outlive the session', () => {
    let now = 1_000;
    const c = new PrincipalCache({ ttlMs: 60_000, now: () => now });
    const a = token(ids(1));
    c.remember(a, row(), derived);
    now += 59_999;
    assert.ok(c.get(a));
    now += 1;
    assert.equal(c.get(a), undefined);
    const b = token(ids(2));
    c.remember(b, row({ expires_at: new Date(now + 10) }), derived);
    now += 10;
    assert.equal(c.get(b), undefined, 'kept past the session expiry');
    c.remember(b, row({ expires_at: new Date(now - 1) }), derived);
    assert.equal(c.size, 0, 'an expired session is not remembered');
  });

  test('bounded: the least recently used entry goes first; forget drops one', () => {
    const c = new PrincipalCache({ max: 3, now: () => 1_000 });
    const t = [1, 2, 3, 4].map((n) => token(ids(n)));
    for (const x of t.slice(0, 3)) c.remember(x, row(), derived);
    assert.ok(c.get(t[0]!)); // 1 is now the most recent
    c.remember(t[3]!, row(), derived);
    assert.equal(c.size, 3);
    assert.equal(c.get(t[1]!), undefined, 'the least recently used was dropped');
    assert.ok(c.get(t[0]!));
    c.forget(t[0]!);
    assert.equal(c.get(t[0]!), undefined);
  });

  test('the confirmation failure is recognized by its SQLSTATE only', () => {
    assert.equal(isConfirmFailure({ code: 'WA401' }), true);
    assert.equal(isConfirmFailure({ code: '25P02' }), false);
    assert.equal(isConfirmFailure(new Error('WA401')), false);
    assert.equal(isConfirmFailure(undefined), false);
  });
});
