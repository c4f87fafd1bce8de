import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { KeyCache } from './key-cache.ts';

const key = (b: number) => Buffer.alloc(32, b);

test('the bound evicts the least recently used key and zeroes it', () => {
  const c = new KeyCache(2, 60_000);
  const a = key(1);
  const b = key(2);
  c.set('a', a);
  c.set('b', b);
  c.set('c', key(3));
  assert.equal(c.get('a'), undefined);
  assert.ok(
    a.every((x) => x === 0),
    'the evicted key is zeroed',
  );
  assert.equal(c.get('b'), b);
  assert.equal(c.size, 2);
});

test('an expired key is dropped and zeroed; an explicit expiry can only shorten the TTL', async () => {
  const c = new KeyCache(8, 60_000);
  const a = key(1);
  c.set('a', a, Date.now() + 20);
  const b = key(2);
  c.set('b', b, Date.now() + 10 * 60_000);
  assert.equal(c.expiresIfHolding('a', a) !== undefined, true);
  assert.equal(c.expiresIfHolding('a', key(1)), undefined, 'another buffer with equal bytes');
  assert.ok((c.expiresIfHolding('b', b) ?? Infinity) <= Date.now() + 60_000);
  await sleep(40);
  assert.equal(c.get('a'), undefined);
  assert.ok(a.every((x) => x === 0));
  assert.equal(c.expiresIfHolding('a', a), undefined);
});

test('dropPrefix forgets and zeroes one organization only', () => {
  const c = new KeyCache();
  const mine = key(5);
  const other = key(6);
  c.set('org1/data/1', mine);
  c.set('org1/bidx/s.t.c', key(7));
  c.set('org2/data/1', other);
  c.dropPrefix('org1/');
  assert.equal(c.size, 1);
  assert.ok(mine.every((x) => x === 0));
  assert.equal(c.get('org2/data/1'), other);
});
