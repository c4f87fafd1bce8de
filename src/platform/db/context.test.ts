import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { isWardError } from '../errors.ts';
import { Database } from './database.ts';
import { createPgliteDriver } from './pglite.ts';
import { createPostgresDriver } from './postgres.ts';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../test/helpers/db.ts';

interface Ctx {
  role: string;
  org: string | null;
  usr: string | null;
  purpose: string | null;
  actor: string | null;
}
const readContext = `select current_user as role, ward.current_org_id()::text as org, ward.current_user_id()::text as usr,
                            ward.current_purpose() as purpose, ward.current_actor_type() as actor`;

for (const engine of availableEngines()) {
  describe(`request context (${engine})`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase({ engine });
    });
    after(async () => t.close());

    test('withContext runs as ward_app with the transaction-local context', async () => {
      const orgId = randomUUID();
      const userId = randomUUID();
      const r = await t.db.withContext(
        { orgId, userId, actorType: 'agent', purpose: 'TREAT' },
        (tx) => tx.query<Ctx>(readContext),
      );
      assert.deepEqual(r.rows[0], {
        role: 'ward_app',
        org: orgId,
        usr: userId,
        purpose: 'TREAT',
        actor: 'agent',
      });
    });

    test('context functions return NULL when no context is set', async () => {
      const r = await t.db.asAdmin((tx) => tx.query<Ctx>(readContext));
      assert.equal(r.rows[0]?.org, null);
      assert.equal(r.rows[0]?.usr, null);
      assert.equal(r.rows[0]?.purpose, null);
    });

    test('the context does not survive its transaction, even on a reused connection', async () => {
      const orgId = randomUUID();
      await t.db.withContext({ orgId, actorType: 'user' }, (tx) => tx.query('select 1'));
      const r = await t.db.asAdmin((tx) => tx.query<Ctx>(readContext));
      assert.notEqual(r.rows[0]?.role, 'ward_app');
      assert.equal(r.rows[0]?.org, null);
    });

    test('a failing transaction rolls back everything it wrote', async () => {
      const marker = `ctx-${randomUUID()}`;
      await assert.rejects(
        t.db.asSystem({ name: 'test.rollback', reason: 'test' }, async (tx) => {
          await tx.query("insert into ward.organizations (name, type) values ($1, 'provider')", [
            marker,
          ]);
          throw new Error('boom');
        }),
      );
      const r = await t.db.asAdmin((tx) =>
        tx.query('select 1 from ward.organizations where name = $1', [marker]),
      );
      assert.equal(r.rowCount, 0);
    });

    test('malformed context values are refused before reaching the database', async () => {
      await assert.rejects(
        t.db.withContext({ orgId: "x'; drop table ward.users; --", actorType: 'user' }, (tx) =>
          tx.query('select 1'),
        ),
        (e: unknown) => isWardError(e, 'internal'),
      );
      await assert.rejects(
        t.db.withContext(
          { orgId: randomUUID(), actorType: 'user', purpose: "TREAT', true); select ('" },
          (tx) => tx.query('select 1'),
        ),
        (e: unknown) => isWardError(e, 'internal'),
      );
    });

    test('a failing prelude stops the statements behind it (pipelined on PostgreSQL) and is the error reported', async () => {
      for (const prelude of [
        "SELECT set_config('role', 'no_such_role_anywhere', true);",
        'SELEC broken prelude;',
      ]) {
        const marker = `prelude-${randomUUID()}`;
        let ran = false;
        await assert.rejects(
          t.db.driver.transaction(async (tx) => {
            ran = true;
            await tx.query("insert into ward.organizations (name, type) values ($1, 'provider')", [
              marker,
            ]);
          }, prelude),
          (e: unknown) => ['22023', '42704', '42601'].includes((e as { code?: string }).code ?? ''),
        );
        const r = await t.db.asAdmin((tx) =>
          tx.query('select 1 from ward.organizations where name = $1', [marker]),
        );
        assert.equal(r.rowCount, 0, `a statement ran past the failed prelude (ran: ${ran})`);
      }
    });

    test('a prelude whose rows are asked for hands them to the callback', async () => {
      const rows = await t.db.driver.transaction(
        (_tx, preludeRows) => Promise.resolve(preludeRows),
        "SELECT set_config('ward.purpose', 'TREAT', true) as purpose;",
        { preludeRows: true },
      );
      assert.deepEqual(rows, [{ purpose: 'TREAT' }]);
    });

    test('queryAndCommit: the last statement commits with the transaction, in context', async () => {
      const orgId = randomUUID();
      const r = await t.db.withContext({ orgId, actorType: 'user', purpose: 'TREAT' }, (tx) =>
        tx.queryAndCommit<Ctx>(readContext),
      );
      assert.equal(r.rows[0]?.role, 'ward_app');
      assert.equal(r.rows[0]?.org, orgId);
      const names = () => `qc-${randomUUID()}`;
      const insert = "insert into ward.organizations (name, type) values ($1, 'provider')";
      const exists = async (name: string) =>
        (
          await t.db.asAdmin((tx) =>
            tx.query('select 1 from ward.organizations where name = $1', [name]),
          )
        ).rowCount === 1;

      // Earlier statements and the last one are committed together.
      const [a, b] = [names(), names()];
      await t.db.asSystem({ name: 'test.qc', reason: 'test' }, async (tx) => {
        await tx.query(insert, [a]);
        return tx.queryAndCommit(insert, [b]);
      });
      assert.ok((await exists(a)) && (await exists(b)));

      // A failing last statement rolls back everything before it.
      const c = names();
      await assert.rejects(
        t.db.asSystem({ name: 'test.qc', reason: 'test' }, async (tx) => {
          await tx.query(insert, [c]);
          return tx.queryAndCommit('insert into ward.organizations (name, type) values ($1, $2)', [
            names(),
            'not-a-type',
          ]);
        }),
      );
      assert.equal(await exists(c), false);

      // After it, statements are refused and a later error cannot undo the commit.
      const d = names();
      let refused: unknown;
      await assert.rejects(
        t.db.asSystem({ name: 'test.qc', reason: 'test' }, async (tx) => {
          await tx.queryAndCommit(insert, [d]);
          refused = await tx.query('select 1').then(
            () => undefined,
            (e: unknown) => e,
          );
          throw new Error('after the commit');
        }),
        /after the commit/,
      );
      assert.match(String(refused), /already committed/);
      assert.equal(await exists(d), true);

      // The connection is clean for the next transaction.
      const again = await t.db.withContext({ orgId, actorType: 'user' }, (tx) =>
        tx.query<Ctx>(readContext),
      );
      assert.equal(again.rows[0]?.org, orgId);
    });

    test('asSystem runs as ward_system and tells every recorder inside the transaction', async () => {
      const seen: { job: string; role: string }[] = [];
      const db = t.db;
      db.onSystemAccess(async (tx, job) => {
        const r = await tx.query<{ role: string }>('select current_user as role');
        seen.push({ job: job.name, role: r.rows[0]?.role ?? '' });
      });
      const role = await db.asSystem(
        { name: 'test.system', reason: 'testing the hook' },
        async (tx) => {
          const r = await tx.query<{ role: string }>('select current_user as role');
          return r.rows[0]?.role;
        },
      );
      assert.equal(role, 'ward_system');
      assert.deepEqual(seen, [{ job: 'test.system', role: 'ward_system' }]);
    });

    test('concurrent requests never see each other’s context', async () => {
      // Many overlapping transactions with pauses between statements. On PGlite (one
      // connection) they are queued; on PostgreSQL each has its own pooled connection.
      const orgs = Array.from({ length: 40 }, () => randomUUID());
      const results = await Promise.all(
        orgs.map((orgId, i) =>
          t.db.withContext({ orgId, actorType: 'user' }, async (tx) => {
            const seen: (string | null)[] = [];
            for (let step = 0; step < 3; step++) {
              const r = await tx.query<{ org: string | null }>(
                'select ward.current_org_id()::text as org',
              );
              seen.push(r.rows[0]?.org ?? null);
              await sleep((i * 7 + step * 3) % 5);
            }
            return { orgId, seen };
          }),
        ),
      );
      for (const r of results) assert.deepEqual(r.seen, [r.orgId, r.orgId, r.orgId]);
    });
  });
}

if (availableEngines().includes('postgres')) {
  test('a single pooled connection carries no context from one request to the next', async () => {
    const t = await createTestDatabase({ engine: 'postgres' });
    const db = new Database(createPostgresDriver({ connectionString: t.url ?? '', max: 1 }));
    try {
      const a = randomUUID();
      await db.withContext({ orgId: a, actorType: 'user', purpose: 'TREAT' }, (tx) =>
        tx.query('select 1'),
      );
      const r = await db.asAdmin((tx) =>
        tx.query<{ org: string | null; role: string; pid: number }>(
          'select ward.current_org_id()::text as org, current_user as role, pg_backend_pid() as pid',
        ),
      );
      assert.equal(r.rows[0]?.org, null);
      assert.equal(r.rows[0]?.role, 'postgres');
    } finally {
      await db.close();
      await t.close();
    }
  });
}

test('an embedded data directory open to other users is made private before use', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-open-dir-'));
  try {
    fs.chmodSync(dir, 0o755);
    const driver = await createPgliteDriver({ dataDir: dir });
    await driver.close();
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
