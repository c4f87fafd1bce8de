import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readAgentContext, storeAgentContext } from '../../src/modules/crypto/agent-context.ts';
import { rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { loadConfig } from '../../src/platform/config.ts';
import type { Database } from '../../src/platform/db/index.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { openDatabase } from '../../src/platform/db/open.ts';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testCrypto, testMasterKeyBase64 } from '../helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';

const rows = 1200;
const kills = 6;

// `ward keys rewrap` is SIGKILLed at random points across runs; afterwards every value must
// decrypt to its original, none may be lost or duplicated, and a final run must complete.
for (const engine of availableEngines()) {
  describe(`rewrap survives SIGKILL (${engine})`, () => {
    let t: TestDatabase | undefined;
    let dataDir: string | undefined;
    let env: NodeJS.ProcessEnv;
    let a: TenantFixture;
    const crypto = testCrypto({ primaryTtlMs: 0 });
    const open = async (): Promise<Database> =>
      t ? t.db : openDatabase(loadConfig({ WARD_DATA_DIR: dataDir }));

    before(async () => {
      if (engine === 'postgres') {
        t = await createTestDatabase({ engine });
        env = { DATABASE_URL: t.url };
      } else {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-rewrap-kill-'));
        env = { WARD_DATA_DIR: dataDir, DATABASE_URL: '' };
      }
      const db = await open();
      if (!t) await migrate(db);
      a = await seedTenant(db, 'K');
      for (let i = 0; i < rows; i += 100) {
        await db.withContext(
          { orgId: a.orgId, actorType: 'agent', userId: a.agentId },
          async (tx) => {
            for (let j = i; j < i + 100; j++) {
              await storeAgentContext(tx, crypto.codec, {
                orgId: a.orgId,
                agentId: a.agentId,
                purpose: 'HPAYMT',
                context: { n: j },
                expiresAt: new Date(Date.now() + 3_600_000),
              });
            }
          },
        );
      }
      await rotateDataKeys({ db, keyring: crypto.keyring, events: crypto.events }, a.orgId);
      if (!t) await db.close();
    });
    after(async () => {
      await t?.close();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    test('killed runs leave every value readable; a final run completes', async () => {
      const childEnv = {
        ...process.env,
        ...env,
        WARD_MASTER_KEY: testMasterKeyBase64,
        WARD_LOG_LEVEL: 'silent',
      };
      for (let k = 0; k < kills; k++) {
        const child = spawn(
          process.execPath,
          ['bin/ward.mjs', 'keys', 'rewrap', '--org', a.orgId, '--batch', '25', '--json'],
          {
            env: childEnv,
            stdio: 'ignore',
          },
        );
        const delay = 800 + Math.floor(Math.random() * 3000);
        const timer = setTimeout(() => child.kill('SIGKILL'), delay);
        await new Promise((resolve) => child.on('exit', resolve));
        clearTimeout(timer);
      }
      const final = spawn(
        process.execPath,
        ['bin/ward.mjs', 'keys', 'rewrap', '--org', a.orgId, '--json'],
        {
          env: childEnv,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      final.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise((resolve) => final.on('exit', resolve));
      assert.equal(code, 0, `final rewrap failed: ${out}`);

      const db = await open();
      try {
        const seen = await db.withContext({ orgId: a.orgId, actorType: 'system' }, async (tx) => {
          const r = await tx.query<{ id: string; v: Buffer }>(
            'select id, context_encrypted as v from ward.agent_policy_context where organization_id = $1',
            [a.orgId],
          );
          const ns: number[] = [];
          for (const row of r.rows) {
            assert.equal(row.v.readUInt32BE(1), 2, 'every value is under the new version');
            const ctx = await readAgentContext(tx, crypto.codec, a.orgId, row.id);
            if (typeof ctx?.['n'] === 'number') ns.push(ctx['n']);
          }
          return ns.sort((x, y) => x - y);
        });
        assert.deepEqual(seen, [...Array(rows).keys()], 'no row lost or duplicated');
        const done = await db.asSystem(
          { name: 'test', reason: 'checks completion', orgId: a.orgId },
          (tx) =>
            tx.query<{ c: Date | null }>(
              'select rewrap_completed_at as c from ward.encryption_keys where organization_id = $1 and version = 2',
              [a.orgId],
            ),
        );
        assert.ok(done.rows[0]?.c, 'the job recorded its completion');
      } finally {
        if (!t) await db.close();
      }
    });
  });
}
