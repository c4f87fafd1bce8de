import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertProblem, hostileApi } from '../helpers/hostile.ts';

// GET /users refused ?limit= and paged by a plaintext email; forged cursors were
// validation_failed (or a 500), and the audit events cursor had no integrity check at all.
describe('list limits and cursors', () => {
  let h: Awaited<ReturnType<typeof hostileApi>>;
  before(async () => {
    h = await hostileApi();
  });
  after(() => h.api.close());

  test('every list route takes ?limit= and pages with an opaque cursor', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await h.send(
        'POST',
        '/users',
        h.admin,
        JSON.stringify({ email: `page${i}.${Date.now()}@example.test`, role: 'nurse' }),
      );
      assert.equal(r.statusCode, 201, r.body);
    }
    const lists: [string, string][] = [
      ['/users', h.admin],
      ['/api-keys', h.admin],
      ['/access-policies', h.admin],
      ['/access/grants', h.admin],
      ['/security-alerts', h.admin],
      ['/access/review-tasks', h.auditor],
      ['/patients', h.doctor],
      ['/cases', h.doctor],
      [`/cases/${h.caseId}/images`, h.doctor],
      ['/audit/events', h.auditor],
    ];
    for (const [url, token] of lists) {
      const r = await h.send('GET', `${url}?limit=2`, token);
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
      const page = r.json<{ items: unknown[]; nextCursor: string | null }>();
      assert.ok(page.items.length <= 2, url);
    }
    // Users walk page by page, every user once, and the cursor never carries an email.
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const r = await h.send('GET', `/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`, h.admin);
      assert.equal(r.statusCode, 200, r.body);
      const page = r.json<{ items: { id: string }[]; nextCursor: string | null }>();
      seen.push(...page.items.map((u) => u.id));
      cursor = page.nextCursor;
      if (!cursor) break;
      // The body is ciphertext (random bytes that may hold an '@'): no email in it.
      const body = Buffer.from(cursor.slice(0, -16), 'base64url').toString('latin1');
      assert.ok(!body.includes('@example.test'), body);
    }
    const all = (await h.send('GET', '/users?limit=200', h.admin)).json<{
      items: { id: string }[];
    }>();
    assert.deepEqual(
      seen,
      all.items.map((u) => u.id),
    );
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.length >= 6);
  });

  test('a forged, edited or foreign cursor is 400 invalid_cursor on every list', async () => {
    // What anyone could mint under the old unkeyed digest, with values SQL would choke on.
    const sha = (scope: string, key: string[]) => {
      const body = Buffer.from(JSON.stringify(key)).toString('base64url');
      return (
        body + createHash('sha256').update(`${scope}\n${body}`).digest('base64url').slice(0, 12)
      );
    };
    const bad = ['not a time \u0000', 'not-a-uuid'];
    const lists: [string, string, string, number][] = [
      ['/users', h.admin, 'users', 2],
      ['/api-keys', h.admin, 'api-keys', 2],
      ['/access-policies', h.admin, 'access-policies', 1],
      ['/access/grants', h.admin, 'access-grants', 2],
      ['/security-alerts', h.admin, 'security-alerts', 2],
      ['/access/review-tasks', h.auditor, 'review-tasks', 2],
      ['/patients', h.doctor, 'patients', 2],
      ['/cases', h.doctor, 'cases', 2],
      ['/audit/events', h.auditor, 'audit-events', 2],
    ];
    const auditOld = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const [url, token, scope, arity] of lists) {
      const forged = [
        sha(scope, bad.slice(0, arity)),
        sha(
          scope,
          ['2026-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000'].slice(0, arity),
        ),
        auditOld({ t: 'x\u0000', id: 1 }),
        auditOld({ t: '2026-01-01T00:00:00.000000Z', id: 'x' }),
        'x',
        '!!!!',
        'A'.repeat(1024),
      ];
      for (const cursor of forged) {
        const r = await h.send('GET', `${url}?cursor=${encodeURIComponent(cursor)}`, token);
        assertProblem(r, 'invalid_cursor', `${url} ${cursor}`);
      }
    }
    // A genuine cursor from one list is not accepted by another.
    const users = await h.send('GET', '/users?limit=1', h.admin);
    const real = users.json<{ nextCursor: string }>().nextCursor;
    assert.ok(real);
    assertProblem(
      await h.send('GET', `/api-keys?cursor=${real}`, h.admin),
      'invalid_cursor',
      'foreign',
    );
    assertProblem(
      await h.send('GET', `/users?cursor=${real.slice(0, -1)}x`, h.admin),
      'invalid_cursor',
      'edited',
    );
  });

  test('audit events page with a signed cursor that pages correctly', async () => {
    const first = await h.send('GET', '/audit/events?limit=1', h.auditor);
    assert.equal(first.statusCode, 200, first.body);
    const p1 = first.json<{ items: { id: number | string }[]; nextCursor: string }>();
    assert.ok(p1.nextCursor);
    const second = await h.send('GET', `/audit/events?limit=1&cursor=${p1.nextCursor}`, h.auditor);
    assert.equal(second.statusCode, 200, second.body);
    const p2 = second.json<{ items: { id: number | string }[] }>();
    assert.ok(Number(p2.items[0]!.id) < Number(p1.items[0]!.id));
  });
});
