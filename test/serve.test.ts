import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { createCliTarget } from './helpers/cli-target.ts';
import {
  availableEngines,
  createTestDatabase,
  defaultEngine,
  type TestDatabase,
} from './helpers/db.ts';

const bin = path.resolve('bin/ward.mjs');
// A fixed test key: PostgreSQL deployments must configure one (Ward refuses to start without).
const testMasterKey = Buffer.alloc(32, 7).toString('base64');
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup) await c();
});

/** Starts `ward <args>` and resolves with its first JSON stdout line. */
async function start(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; info: Record<string, unknown> }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env['PATH'], WARD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no output within 60 s; stderr: ${err}`)),
      60_000,
    );
    // The server's JSON logs share stdout with the --json banner: wait for the banner.
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => /^\{"(address|error)"/.test(l));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}; stderr: ${err}`));
    });
  });
  return { child, info: JSON.parse(line) as Record<string, unknown> };
}

async function stopGracefully(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describe('ward serve', () => {
  test('demo starts on the embedded database, serves health checks and stops on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-demo-'));
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const { child, info } = await start(['demo', '--port', '0', '--json'], { WARD_DATA_DIR: dir });
    assert.equal(info['engine'], 'pglite');
    const base = String(info['address']);
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal(await stopGracefully(child), 0);
    // The embedded database's lock is released on a graceful stop.
    assert.equal(fs.existsSync(path.join(dir, 'ward.lock')), false);
  });

  if (availableEngines().includes('postgres')) {
    test('serve on PostgreSQL refuses to start with pending migrations, then starts once migrated', async () => {
      const t: TestDatabase = await createTestDatabase({ engine: 'postgres', migrated: false });
      cleanup.push(() => t.close());
      const refused = await start(['serve', '--port', '0', '--json'], {
        DATABASE_URL: t.url,
        WARD_MASTER_KEY: testMasterKey,
      });
      const code =
        refused.child.exitCode ?? ((await once(refused.child, 'exit')) as [number | null])[0];
      assert.equal(code, 1);
      const error = refused.info['error'] as { code: string; message: string };
      assert.equal(error.code, 'config_invalid');
      assert.match(error.message, /pending/);
      const migrated = await createTestDatabase({ engine: 'postgres' });
      cleanup.push(() => migrated.close());
      // Without a key-encryption key, a PostgreSQL deployment refuses to start at all.
      const keyless = await start(['serve', '--port', '0', '--json'], {
        DATABASE_URL: migrated.url,
      });
      const keylessCode =
        keyless.child.exitCode ?? ((await once(keyless.child, 'exit')) as [number | null])[0];
      assert.equal(keylessCode, 1);
      assert.match(JSON.stringify(keyless.info['error']), /WARD_MASTER_KEY|key/i);
      // No audit signing key is configured: the server creates one, wrapped by the KEK.
      const { child, info } = await start(['serve', '--port', '0', '--json'], {
        DATABASE_URL: migrated.url,
        WARD_MASTER_KEY: testMasterKey,
      });
      assert.equal(info['engine'], 'postgres');
      assert.equal((await fetch(`${String(info['address'])}/readyz`)).status, 200);
      assert.equal(await stopGracefully(child), 0);
      const keys = await migrated.db.asAdmin((tx) =>
        tx.query<{ status: string; wrapped: boolean }>(
          `select status, wrapped_private_key is not null as wrapped from audit.signing_keys`,
        ),
      );
      assert.deepEqual(keys.rows, [{ status: 'active', wrapped: true }]);
      // Another KEK cannot unwrap that key: the server refuses to start and says why.
      const wrongKek = await start(['serve', '--port', '0', '--json'], {
        DATABASE_URL: migrated.url,
        WARD_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
      });
      const wrongCode =
        wrongKek.child.exitCode ?? ((await once(wrongKek.child, 'exit')) as [number | null])[0];
      assert.equal(wrongCode, 1);
      assert.match(
        JSON.stringify(wrongKek.info['error']),
        /audit signing key .* cannot be unwrapped/,
      );
    });
  }
});

/** Sends SIGTERM and resolves with how the process ended, or 'still running' after `ms`. */
async function terminate(child: ChildProcess, ms: number): Promise<string> {
  const exited = once(child, 'exit').then(([code, signal]) =>
    signal ? `killed by ${String(signal)}` : `exit ${String(code)}`,
  );
  child.kill('SIGTERM');
  const outcome = await Promise.race([
    exited,
    new Promise<string>((resolve) => setTimeout(() => resolve('still running'), ms)),
  ]);
  if (outcome === 'still running') child.kill('SIGKILL');
  return outcome;
}

// An earlier helper saw a `ward serve` whose stdout pipe was gone ignore SIGTERM. The cause:
// pino's stdout destination retried a pipe nobody read (EAGAIN) every 100 ms, forever, on a
// timer that kept the process alive after its graceful stop; and the signal handlers were
// installed only after the banner, so a SIGTERM sent as soon as it appeared killed the process
// with nothing closed. Log lines now go through log-destination.ts, and the handlers come first.
describe('ward serve and its stdout', () => {
  const engine = defaultEngine();
  const serveOn = async () => {
    const target = await createCliTarget(engine);
    cleanup.push(() => target.close());
    // Info level: every request writes a log line to stdout.
    return start(['serve', '--port', '0', '--json'], { ...target.env, WARD_LOG_LEVEL: 'info' });
  };

  test('stops on SIGTERM once its stdout pipe is closed', async () => {
    const { child } = await serveOn();
    child.stdout?.destroy();
    assert.equal(await terminate(child, 15_000), 'exit 0');
  });

  test('stops on SIGTERM while nobody reads its stdout', { timeout: 180_000 }, async () => {
    const { child, info } = await serveOn();
    // The reader stops reading but keeps the pipe open: the log lines fill it.
    child.stdout?.pause();
    const base = String(info['address']);
    for (let round = 0; round < 30; round++) {
      await Promise.all(
        Array.from({ length: 100 }, () => fetch(`${base}/healthz`).then((r) => r.arrayBuffer())),
      );
    }
    assert.equal(await terminate(child, 15_000), 'exit 0');
  });

  test('listens for SIGTERM before it prints the banner', async () => {
    const target = await createCliTarget(engine);
    cleanup.push(() => target.close());
    const before = process.listenerCount('SIGTERM');
    let atBanner = -1;
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (atBanner < 0 && chunk.toString().includes('"address"')) {
          atBanner = process.listenerCount('SIGTERM');
          // Whoever waited for the banner stops the server at once.
          setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
        }
        done();
      },
    });
    const stderr = new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    });
    const code = await main(['serve', '--port', '0', '--json'], {
      stdout,
      stderr,
      stdin: process.stdin,
      env: { ...target.env, WARD_LOG_LEVEL: 'silent' },
    });
    assert.equal(code, 0);
    assert.equal(atBanner, before + 1, 'the handler was in place when the banner went out');
    assert.equal(process.listenerCount('SIGTERM'), before);
  });
});
