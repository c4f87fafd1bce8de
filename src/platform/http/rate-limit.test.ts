import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientBucket, RateLimiter, ruleFromEnv } from './rate-limit.ts';

test('a bucket admits its burst, refuses with a Retry-After, and refills over time', () => {
  const l = new RateLimiter({ burst: 3, perMinute: 60 });
  const t0 = 1_000_000;
  for (let i = 0; i < 3; i++) assert.equal(l.take('a', t0).allowed, true);
  const refused = l.take('a', t0);
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAfterSeconds, 1);
  assert.equal(l.take('b', t0).allowed, true, 'keys are independent');
  assert.equal(l.take('a', t0 + 1000).allowed, true, 'one token per second refills');
  assert.throws(() => l.enforce('a', t0 + 1000), { code: 'rate_limited' });
});

test('peek answers like take would, without taking a token or tracking a new key', () => {
  const l = new RateLimiter({ burst: 2, perMinute: 60 });
  const t0 = 1_000_000;
  assert.deepEqual(l.peek('a', t0), { allowed: true, retryAfterSeconds: 0 });
  assert.equal(l.size, 0);
  l.take('a', t0);
  for (let i = 0; i < 5; i++) assert.equal(l.peek('a', t0).allowed, true);
  l.take('a', t0);
  assert.deepEqual(l.peek('a', t0), { allowed: false, retryAfterSeconds: 1 });
  assert.equal(l.peek('a', t0 + 1000).allowed, true, 'it refills as take would');
});

test('memory stays bounded: the least recently used key is dropped', () => {
  const l = new RateLimiter({ burst: 1, perMinute: 1 }, 100);
  for (let i = 0; i < 10_000; i++) l.take(`ip-${i}`, 0);
  assert.equal(l.size, 100);
});

test('rules come from the environment; 0 per minute disables; nonsense is refused', () => {
  const fallback = { burst: 5, perMinute: 10 };
  assert.deepEqual(ruleFromEnv({}, 'X', fallback), fallback);
  assert.deepEqual(ruleFromEnv({ X_BURST: '2', X_PER_MINUTE: '7' }, 'X', fallback), {
    burst: 2,
    perMinute: 7,
  });
  assert.equal(ruleFromEnv({ X_PER_MINUTE: '0' }, 'X', fallback), undefined);
  assert.throws(() => ruleFromEnv({ X_BURST: 'many' }, 'X', fallback), { code: 'config_invalid' });
});

test('client buckets: IPv4 as is, IPv4-mapped as its IPv4, IPv6 by /64 in any spelling', () => {
  assert.equal(clientBucket('192.0.2.7'), '192.0.2.7');
  assert.equal(clientBucket('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientBucket('::FFFF:192.0.2.7'), '192.0.2.7');
  const prefix = '2001:db8:1:2::/64';
  for (const ip of [
    '2001:db8:1:2::1',
    '2001:0DB8:0001:0002:ffff:ffff:ffff:ffff',
    '2001:db8:1:2:0:0:0:0',
    '2001:db8:1:2::192.0.2.1',
    '2001:db8:1:2::9%eth0',
  ]) {
    assert.equal(clientBucket(ip), prefix, ip);
  }
  assert.equal(clientBucket('2001:db8:1:3::1'), '2001:db8:1:3::/64');
  assert.equal(clientBucket('::1'), '0:0:0:0::/64');
  assert.equal(clientBucket('2001:db8::'), '2001:db8:0:0::/64');
  assert.equal(clientBucket('unknown'), 'unknown');
});
