import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { startServer } from '../../src/api/server.ts';
import { recordSystemAccess } from '../../src/modules/audit/system-recorder.ts';
import { createCrypto } from '../../src/modules/crypto/index.ts';
import { CursorKeyCustody } from '../../src/modules/crypto/cursor-keys.ts';
import { createLocalKek } from '../../src/modules/crypto/kek/local-provider.ts';
import type { KekProvider } from '../../src/modules/crypto/kek/provider.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { Database } from '../../src/platform/db/database.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { pgCode } from '../../src/platform/errors.ts';
import {
  decodeCursor,
  encodeCursor,
  useCursorKey,
  useCursorKeys,
} from '../../src/platform/http/pagination.ts';
import { lastJson, runCli } from '../helpers/cli.ts';
import { createCliTarget, createClinicViaCli } from '../helpers/cli-target.ts';
import { testMasterKey } from '../helpers/crypto.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const testKek = createLocalKek(testMasterKey, 'env');
const custodyUnder = (current: KekProvider, previous: KekProvider[] = []) =>
  new CursorKeyCustody(createCrypto({ current, previous }, pino({ level: 'silent' })).keyring);
const sortKey = ['2026-12-05 09:00:00.5+00', '6f2b0d1e-3c1a-4d6b-9e1f-0a2b3c4d5e6f'];
const versionOf = (cursor: string) =>
  Buffer.from(cursor.slice(0, -16), 'base64url').readUInt32BE(0);

// Pagination cursors are MACed and encrypted under a server key. A key random per process made
// every cursor invalid after a restart and on the next replica behind a load balancer; the key
// now lives in ward.cursor_keys, wrapped by the KEK, and every server loads the same versions.
for (const engine of availableEngines()) {
  describe(`pagination cursor keys are stored wrapped by the KEK (${engine})`, () => {
    let t: TestDatabase;
    let second: Database;
    before(async () => {
      t = await createTestDatabase({ engine });
      t.db.onSystemAccess(recordSystemAccess);
      // A second server: on PostgreSQL its own connection pool, on PGlite the one connection.
      second = t.url
        ? new Database(createPostgresDriver({ connectionString: t.url, max: 2 }))
        : t.db;
      if (second !== t.db) second.onSystemAccess(recordSystemAccess);
    });
    after(async () => {
      useCursorKey(randomBytes(32));
      if (second !== t.db) await second.close();
      await t.close();
    });

    const storedRows = () =>
      t.db.asAdmin((tx) =>
        tx.query<{ version: number; wrapped_key: Buffer; kek_id: string }>(
          'select version, wrapped_key, kek_id from ward.cursor_keys order by version',
        ),
      );

    test('two servers starting at once create one version and hold the same key', async () => {
      const [a, b] = await Promise.all([
        custodyUnder(testKek).load(t.db),
        custodyUnder(testKek).load(second),
      ]);
      assert.equal(a.length, 1);
      assert.equal(b.length, 1);
      assert.equal(a[0]!.version, 1);
      assert.ok(a[0]!.key.equals(b[0]!.key), 'both servers hold the same key');
      const rows = (await storedRows()).rows;
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.kek_id, testKek.id);
      assert.equal(rows[0]!.wrapped_key.indexOf(a[0]!.key.subarray(0, 8)), -1, 'stored wrapped');
      // A cursor one server made is valid on the other, and after a restart (a fresh load).
      useCursorKeys(a);
      const cursor = encodeCursor('patients', sortKey);
      useCursorKey(randomBytes(32));
      assert.throws(() => decodeCursor('patients', cursor, 2), { code: 'invalid_cursor' });
      useCursorKeys(await custodyUnder(testKek).load(second));
      assert.deepEqual(decodeCursor('patients', cursor, 2), sortKey);
    });

    test('another KEK cannot open the stored key: loading it is refused', async () => {
      const stranger = createLocalKek(randomBytes(32), 'env');
      await assert.rejects(custodyUnder(stranger).load(t.db), {
        code: 'kek_unavailable',
        message: /cursor key \(version 1\) cannot be unwrapped/,
      });
    });

    test('rotation: the new version takes over, earlier cursors last for the grace period', async () => {
      const custody = custodyUnder(testKek);
      useCursorKeys(await custody.load(t.db));
      const v1 = encodeCursor('patients', sortKey);
      assert.equal(versionOf(v1), 1);
      const r = await custody.rotate(t.db, { activateAfterMs: 0, graceMs: 3_600_000 });
      assert.equal(r.version, 2);
      assert.ok(Math.abs(r.previousAcceptedUntil - r.activeFrom - 3_600_000) < 1);
      useCursorKeys(await custody.load(second));
      const v2 = encodeCursor('patients', sortKey);
      assert.equal(versionOf(v2), 2);
      assert.deepEqual(decodeCursor('patients', v1, 2), sortKey, 'within the grace period');
      // Announced ahead (PostgreSQL): loaded by every server, used by none before its time.
      const announced = await custody.rotate(t.db, { activateAfterMs: 600_000, graceMs: 0 });
      const held = await custody.load(second);
      assert.deepEqual(
        held.map((k) => k.version),
        [1, 2, 3],
      );
      useCursorKeys(held);
      assert.equal(versionOf(encodeCursor('patients', sortKey)), 2, 'version 3 is not active yet');
      assert.ok(announced.activeFrom > Date.now() + 590_000);
      // With no grace, every earlier version is refused as soon as the new one takes effect.
      const now = await custody.rotate(t.db, { activateAfterMs: 0, graceMs: 0 });
      assert.equal(now.version, 4);
      useCursorKeys(await custody.load(second));
      assert.equal(versionOf(encodeCursor('patients', sortKey)), 4);
      for (const old of [v1, v2]) {
        assert.throws(() => decodeCursor('patients', old, 2), { code: 'invalid_cursor' });
      }
    });

    test('the stored keys cannot be read by requests nor quietly changed', async () => {
      const as = (role: string, sql: string) =>
        t.db
          .asAdmin(async (tx) => {
            await tx.exec(`SET LOCAL ROLE ${role}`);
            await tx.query(sql);
          })
          .then(
            () => 'ok',
            (e: unknown) => pgCode(e) ?? 'error',
          );
      assert.equal(await as('ward_app', 'select wrapped_key from ward.cursor_keys'), '42501');
      assert.equal(
        await as('ward_system', "update ward.cursor_keys set accepted_until = 'infinity'"),
        '42501',
        'an ended acceptance cannot be extended',
      );
      assert.equal(
        await as(
          'ward_system',
          "update ward.cursor_keys set wrapped_key = '\\x00' where version = 4",
        ),
        '42501',
        'a key is only ever re-wrapped under another KEK',
      );
      assert.equal(await as('ward_system', 'delete from ward.cursor_keys'), '42501');
      assert.equal(
        await as('ward_system', 'update ward.cursor_keys set version = 9 where version = 4'),
        '42501',
      );
    });

    test('KEK rotation re-wraps every version; the key itself does not change', async () => {
      const before = await custodyUnder(testKek).load(t.db);
      const next = createLocalKek(randomBytes(32), 'env');
      assert.equal(
        await custodyUnder(next, [testKek]).rewrap(t.db),
        (await storedRows()).rows.length,
      );
      assert.deepEqual([...new Set((await storedRows()).rows.map((r) => r.kek_id))], [next.id]);
      const after = await custodyUnder(next).load(second);
      assert.deepEqual(
        after.map((k) => [k.version, k.key.toString('hex')]),
        before.map((k) => [k.version, k.key.toString('hex')]),
      );
      await assert.rejects(custodyUnder(testKek).load(t.db), { code: 'kek_unavailable' });
    });
  });
}

// The whole path: `ward serve` installs the stored key, so a client's cursor survives the
// server's restart (each process used to sign with a random key of its own).
for (const engine of availableEngines()) {
  test(`a list cursor stays valid across a server restart (${engine})`, async () => {
    const target = await createCliTarget(engine);
    try {
      const orgId = await createClinicViaCli(target, `restart-${engine}`);
      assert.ok(orgId);
      const config = loadConfig(target.env);
      const serve = () =>
        startServer(config, {
          host: '127.0.0.1',
          port: 0,
          env: target.env,
          logger: pino({ level: 'silent' }),
        });
      let server = await serve();
      let cursor: string;
      try {
        const login = await fetch(`${server.address}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `doctor-restart-${engine}@example.test`,
            password: 'a long enough passphrase for tests',
          }),
        });
        assert.equal(login.status, 200);
        const token = ((await login.json()) as { accessToken: string }).accessToken;
        const headers = {
          authorization: `Bearer ${token}`,
          'x-purpose-of-use': 'TREAT',
          'content-type': 'application/json',
        };
        for (const mrn of ['MRN-RESTART-1', 'MRN-RESTART-2']) {
          const created = await fetch(`${server.address}/api/v1/patients`, {
            method: 'POST',
            headers,
            body: JSON.stringify({
              mrn,
              firstName: 'Rhea',
              lastName: 'Synthetic',
              dateOfBirth: '1975-03-04',
            }),
          });
          assert.equal(created.status, 201);
        }
        const page = await fetch(`${server.address}/api/v1/patients?limit=1`, { headers });
        assert.equal(page.status, 200);
        cursor = String(((await page.json()) as { nextCursor: string | null }).nextCursor);
        assert.notEqual(cursor, 'null');
      } finally {
        await server.stop();
      }
      // A new process starts with a key of its own in memory, as every process did before.
      useCursorKey(randomBytes(32));
      server = await serve();
      try {
        const login = await fetch(`${server.address}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `doctor-restart-${engine}@example.test`,
            password: 'a long enough passphrase for tests',
          }),
        });
        const token = ((await login.json()) as { accessToken: string }).accessToken;
        const next = await fetch(
          `${server.address}/api/v1/patients?limit=1&cursor=${encodeURIComponent(cursor)}`,
          { headers: { authorization: `Bearer ${token}`, 'x-purpose-of-use': 'TREAT' } },
        );
        assert.equal(next.status, 200, await next.clone().text());
        const items = ((await next.json()) as { items: { mrn: string }[] }).items;
        assert.equal(items.length, 1);
      } finally {
        await server.stop();
      }
    } finally {
      useCursorKey(randomBytes(32));
      await target.close();
    }
  });
}

// The operator's command: on PostgreSQL the new version is announced ahead of its activation;
// on the embedded engine (no server can be running) it takes effect at once.
for (const engine of availableEngines()) {
  test(`ward keys rotate-cursor (${engine})`, async () => {
    const target = await createCliTarget(engine);
    try {
      const started = Date.now();
      const r = await runCli(
        ['keys', 'rotate-cursor', '--grace-minutes', '0', '--json'],
        target.env,
      );
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson<{ version: number; activeFrom: string; previousAcceptedUntil: string }>(
        r,
      );
      // Version 1 is created first (the command proves the KEK opens what is stored).
      assert.equal(out.version, 2);
      const ahead = Date.parse(out.activeFrom) - started;
      if (engine === 'pglite') assert.ok(ahead < 60_000, `takes effect at once (${ahead} ms)`);
      else assert.ok(ahead >= 15 * 60_000 - 1_000, `announced 15 minutes ahead (${ahead} ms)`);
      assert.equal(out.previousAcceptedUntil, out.activeFrom, 'no grace');
      const grace = await runCli(['keys', 'rotate-cursor', '--json'], target.env);
      const g = lastJson<{ activeFrom: string; previousAcceptedUntil: string }>(grace);
      assert.equal(Date.parse(g.previousAcceptedUntil) - Date.parse(g.activeFrom), 3_600_000);
      const bad = await runCli(['keys', 'rotate-cursor', '--grace-minutes', '-1'], target.env);
      assert.equal(bad.code, 2);
      const kek = await runCli(['keys', 'rotate-kek', '--json'], target.env);
      assert.equal(kek.code, 0, kek.stderr);
      assert.equal(lastJson<{ cursorKeys: number }>(kek).cursorKeys, 0, 'already under this KEK');
    } finally {
      await target.close();
    }
  });
}
