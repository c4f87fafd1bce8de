import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import {
  cursorKeyFromEnv,
  decodeCursor,
  encodeCursor,
  pageLimit,
  toPage,
  useCursorKey,
} from './pagination.ts';

test('a cursor round-trips its sort key, opaque and URL-safe', () => {
  const key = ['2026-11-22 08:00:00.123456+00', '3f1c8a3e-9a64-4c1e-9a53-8c0c9d0b7a11'];
  const c = encodeCursor('api-keys', key);
  assert.match(c, /^[A-Za-z0-9_-]+$/);
  // The sort key is encrypted: the cursor names no row and no time.
  const body = Buffer.from(c.slice(0, -16), 'base64url').toString('latin1');
  assert.ok(!body.includes(key[1]!) && !body.includes('2026-11-22'), body);
  assert.notEqual(encodeCursor('api-keys', key), c, 'a random IV per cursor');
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
  assert.throws(() => decodeCursor('s', notJson + encodeCursor('s', []).slice(-16), 0), {
    code: 'invalid_cursor',
  });
});

test('cursors are signed with the server key: nobody else can mint one', () => {
  const key = ['2026-11-22 08:00:00+00', '3f1c8a3e-9a64-4c1e-9a53-8c0c9d0b7a11'];
  const body = Buffer.from(JSON.stringify(key)).toString('base64url');
  // The old unkeyed digest, which anyone could compute.
  const minted = body + createHash('sha256').update(`api-keys\n${body}`).digest('base64url');
  for (const n of [12, 16]) {
    assert.throws(() => decodeCursor('api-keys', minted.slice(0, body.length + n), 2), {
      code: 'invalid_cursor',
    });
  }
  const before = encodeCursor('api-keys', key);
  useCursorKey(randomBytes(32));
  try {
    assert.throws(() => decodeCursor('api-keys', before, 2), { code: 'invalid_cursor' });
    assert.deepEqual(decodeCursor('api-keys', encodeCursor('api-keys', key), 2), key);
  } finally {
    useCursorKey(randomBytes(32));
  }
  assert.throws(() => useCursorKey(Buffer.alloc(16)), { code: 'config_invalid' });
});

test('WARD_CURSOR_KEY is base64 of 32 bytes or more', () => {
  assert.equal(cursorKeyFromEnv({}), undefined);
  assert.equal(cursorKeyFromEnv({ WARD_CURSOR_KEY: ' ' }), undefined);
  const k = randomBytes(32);
  assert.deepEqual(cursorKeyFromEnv({ WARD_CURSOR_KEY: k.toString('base64') }), k);
  assert.throws(() => cursorKeyFromEnv({ WARD_CURSOR_KEY: 'c2hvcnQ=' }), {
    code: 'config_invalid',
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
