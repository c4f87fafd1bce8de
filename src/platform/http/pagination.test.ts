import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCursor, encodeCursor, pageLimit, toPage } from './pagination.ts';

test('a cursor round-trips its sort key, opaque and URL-safe', () => {
  const key = ['2026-11-22 08:00:00.123456+00', '3f1c8a3e-9a64-4c1e-9a53-8c0c9d0b7a11'];
  const c = encodeCursor('api-keys', key);
  assert.match(c, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor('api-keys', c, 2), key);
  assert.equal(decodeCursor('api-keys', undefined, 2), undefined);
});

test('a cursor from another list, edited, truncated or of the wrong shape is invalid_cursor', () => {
  const c = encodeCursor('api-keys', ['a', 'b']);
  assert.throws(() => decodeCursor('access-grants', c, 2), { code: 'invalid_cursor' });
  const flipped = (c[0] === 'A' ? 'B' : 'A') + c.slice(1);
  assert.throws(() => decodeCursor('api-keys', flipped, 2), { code: 'invalid_cursor' });
  assert.throws(() => decodeCursor('api-keys', c.slice(0, -1), 2), { code: 'invalid_cursor' });
  assert.throws(() => decodeCursor('api-keys', c, 1), { code: 'invalid_cursor' });
  assert.throws(() => decodeCursor('api-keys', 'x', 2), { code: 'invalid_cursor' });
  const notJson = Buffer.from('{').toString('base64url');
  assert.throws(() => decodeCursor('s', notJson + encodeCursor('s', []).slice(-12), 0), {
    code: 'invalid_cursor',
  });
});

test('pages take limit + 1 rows and only then offer a next cursor', () => {
  const rows = [{ k: 'a' }, { k: 'b' }, { k: 'c' }];
  const full = toPage(
    rows,
    2,
    's',
    (r) => [r.k],
    (r) => r.k,
  );
  assert.deepEqual(full.items, ['a', 'b']);
  assert.deepEqual(decodeCursor('s', full.nextCursor ?? undefined, 1), ['b']);
  assert.equal(
    toPage(
      rows,
      3,
      's',
      (r) => [r.k],
      (r) => r.k,
    ).nextCursor,
    null,
  );
  assert.equal(pageLimit({}), 50);
  assert.equal(pageLimit({ limit: '200' }), 200);
  assert.throws(() => pageLimit({ limit: '201' }), { code: 'validation_failed' });
});
