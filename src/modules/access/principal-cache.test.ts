import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mintToken, parseToken } from '../auth/tokens.ts';
import { isConfirmFailure, PrincipalCache } from './principal-cache.ts';

const org = '11111111-1111-4111-8111-111111111111';
const token = (id: string) => parseToken(mintToken('session', org, id).token)!;
const ids = (n: number) => `22222222-2222-4222-8222-${String(n).padStart(12, '0')}`;
const fp = Buffer.alloc(32, 7);
const row = (extra: Record<string, unknown> = {}) => ({
  failure: null,
  user_id: ids(999),
  fingerprint: fp,
  expires_at: new Date(10_000_000),
  ...extra,
});

describe('principal cache', () => {
  test('remembers successful rows with a fingerprint, and only those', () => {
    const c = new PrincipalCache({ now: () => 1_000 });
    const ok = token(ids(1));
    c.remember(ok, row());
    assert.deepEqual(c.get(ok)?.fingerprint, fp);
    const failed = token(ids(2));
    c.remember(failed, row({ failure: 'session_revoked' }));
    assert.equal(c.get(failed), undefined);
    const bare = token(ids(3));
    c.remember(bare, row({ fingerprint: undefined }));
    assert.equal(c.get(bare), undefined);
  });

  test('another secret for the same session id misses', () => {
    const c = new PrincipalCache({ now: () => 1_000 });
    c.remember(token(ids(1)), row());
    assert.equal(c.get(token(ids(1))), undefined);
  });

  test('entries age out, and never outlive the session', () => {
    let now = 1_000;
    const c = new PrincipalCache({ ttlMs: 60_000, now: () => now });
    const a = token(ids(1));
    c.remember(a, row());
    now += 59_999;
    assert.ok(c.get(a));
    now += 1;
    assert.equal(c.get(a), undefined);
    const b = token(ids(2));
    c.remember(b, row({ expires_at: new Date(now + 10) }));
    now += 10;
    assert.equal(c.get(b), undefined, 'kept past the session expiry');
    c.remember(b, row({ expires_at: new Date(now - 1) }));
    assert.equal(c.size, 0, 'an expired session is not remembered');
  });

  test('bounded: the least recently used entry goes first; forget drops one', () => {
    const c = new PrincipalCache({ max: 3, now: () => 1_000 });
    const t = [1, 2, 3, 4].map((n) => token(ids(n)));
    for (const x of t.slice(0, 3)) c.remember(x, row());
    assert.ok(c.get(t[0]!)); // 1 is now the most recent
    c.remember(t[3]!, row());
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
