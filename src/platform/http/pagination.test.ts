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
  useCursorKeys,
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

/** The key version a cursor names (its first four bytes, in clear). */
const versionOf = (cursor: string) =>
  Buffer.from(cursor.slice(0, -16), 'base64url').readUInt32BE(0);

test('key versions: announced ones wait for their activation, superseded ones for their grace', () => {
  const [k1, k2, k3] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const now = Date.now();
  const key = ['2026-12-05 10:00:00+00', '3f1c8a3e-9a64-4c1e-9a53-8c0c9d0b7a11'];
  try {
    // Version 2 is announced but not active yet: cursors are still made with version 1.
    useCursorKeys([
      { version: 1, key: k1, activeFrom: now - 60_000 },
      { version: 2, key: k2, activeFrom: now + 60_000 },
    ]);
    const v1 = encodeCursor('users', key);
    assert.equal(versionOf(v1), 1);
    // Once active, version 2 makes new cursors and version 1's are accepted until their end.
    useCursorKeys([
      { version: 1, key: k1, activeFrom: now - 60_000, acceptedUntil: now + 60_000 },
      { version: 2, key: k2, activeFrom: now - 1 },
    ]);
    const v2 = encodeCursor('users', key);
    assert.equal(versionOf(v2), 2);
    assert.deepEqual(decodeCursor('users', v1, 2), key);
    assert.deepEqual(decodeCursor('users', v2, 2), key);
    // A version past its acceptance, or one this server does not hold, is invalid_cursor.
    useCursorKeys([
      { version: 1, key: k1, activeFrom: now - 60_000, acceptedUntil: now - 1 },
      { version: 2, key: k2, activeFrom: now - 1 },
    ]);
    assert.throws(() => decodeCursor('users', v1, 2), { code: 'invalid_cursor' });
    assert.deepEqual(decodeCursor('users', v2, 2), key);
    useCursorKeys([{ version: 3, key: k3, activeFrom: now - 1 }]);
    assert.throws(() => decodeCursor('users', v2, 2), { code: 'invalid_cursor' });
    // Naming another installed version does not make a cursor that version's.
    useCursorKeys([
      { version: 1, key: k1, activeFrom: now - 60_000 },
      { version: 2, key: k2, activeFrom: now - 1 },
    ]);
    const sealed = Buffer.from(v2.slice(0, -16), 'base64url');
    sealed.writeUInt32BE(1, 0);
    const relabelled = sealed.toString('base64url') + v2.slice(-16);
    assert.throws(() => decodeCursor('users', relabelled, 2), { code: 'invalid_cursor' });
    // The same key under another version number is another key: nothing carries over.
    useCursorKeys([{ version: 7, key: k2, activeFrom: 0 }]);
    assert.throws(() => decodeCursor('users', v2, 2), { code: 'invalid_cursor' });
  } finally {
    useCursorKey(randomBytes(32));
  }
  assert.throws(() => useCursorKeys([]), { code: 'config_invalid' });
  assert.throws(() => useCursorKeys([{ version: -1, key: k1, activeFrom: 0 }]), {
    code: 'config_invalid',
  });
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
