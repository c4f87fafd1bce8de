import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/platform/config.ts';
import type { EngineKind } from '../../src/platform/db/types.ts';
import { openWard, type WardRuntime } from '../../src/runtime/open-ward.ts';
import { lastJson, runCli } from './cli.ts';
import { testMasterKeyBase64 } from './crypto.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

/** A migrated database the CLI can be pointed at through its environment. */
export interface CliTarget {
  readonly engine: EngineKind;
  readonly env: NodeJS.ProcessEnv;
  readonly dataDir: string;
  /** Opens the runtime the CLI would open (close it before the next CLI run on PGlite). */
  open(): Promise<WardRuntime>;
  close(): Promise<void>;
}

/**
 * A fresh target: on PostgreSQL a migrated test database (with the test KEK), on PGlite an
 * embedded data directory migrated through the CLI itself.
 */
export async function createCliTarget(engine: EngineKind): Promise<CliTarget> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-cli-target-'));
  let t: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv;
  if (engine === 'postgres') {
    t = await createTestDatabase({ engine: 'postgres' });
    env = {
      DATABASE_URL: t.url,
      WARD_MASTER_KEY: testMasterKeyBase64,
      WARD_DATA_DIR: dataDir,
      WARD_LOG_LEVEL: 'silent',
    };
  } else {
    env = { WARD_DATA_DIR: dataDir, WARD_LOG_LEVEL: 'silent' };
    const m = await runCli(['db', 'migrate', '--json'], env);
    if (m.code !== 0) throw new Error(`migrate failed: ${m.stderr}`);
  }
  return {
    engine,
    env,
    dataDir,
    open: () => openWard(loadConfig(env), pino({ level: 'silent' }), env),
    async close() {
      await t?.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a provider organization with a doctor and a nurse through the CLI; returns its id. */
export async function createClinicViaCli(target: CliTarget, label: string): Promise<string> {
  const o = await runCli(
    ['org', 'create', '--name', `Clinic ${label}`, '--type', 'provider', '--json'],
    target.env,
  );
  if (o.code !== 0) throw new Error(`org create failed: ${o.stderr}`);
  const orgId = lastJson<{ id: string }>(o).id;
  for (const role of ['doctor', 'nurse']) {
    const u = await runCli(
      [
        'user',
        'create',
        '--org',
        orgId,
        '--email',
        `${role}-${label}@example.test`,
        '--role',
        role,
        '--password-stdin',
      ],
      target.env,
      'a long enough passphrase for tests\n',
    );
    if (u.code !== 0) throw new Error(`user create failed: ${u.stderr}`);
  }
  return orgId;
}
