import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lastJson, runCli, type CliRun } from '../helpers/cli.ts';
import { createCliTarget, type CliTarget } from '../helpers/cli-target.ts';
import { createTestDatabase, defaultEngine, type TestDatabase } from '../helpers/db.ts';

// The CLI contract for failures: one line naming what is wrong, a stable code, a non-zero
// exit, the JSON error object under --json, and never a stack trace or a secret.

interface JsonError {
  error: { code: string; message: string };
}

/** Asserts a failed run: exit code, stable code in text and JSON, and no stack or secret. */
function assertFailure(r: CliRun, exit: number, code: string, message: RegExp): void {
  assert.equal(r.code, exit, `exit code; stderr: ${r.stderr}`);
  const j = lastJson<JsonError>(r);
  assert.equal(j.error.code, code, r.stdout);
  assert.match(j.error.message, message);
  assert.match(r.stderr, new RegExp(`\\[${code}\\]\\n`));
  assert.doesNotMatch(r.stderr + r.stdout, /unexpected|\n\s+at |s3cret/);
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-cli-errors-'));
after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('CLI failures without a database', () => {
  const env = { WARD_LOG_LEVEL: 'silent', WARD_DATA_DIR: scratch };

  test('out-of-range and malformed numbers are refused before anything runs', async () => {
    const cases: [string[], RegExp][] = [
      [['keys', 'retire', '--org', randomUUID(), '--version', '99999999999999999999'], /--version/],
      [['keys', 'retire', '--org', randomUUID(), '--version', '0'], /--version/],
      [['keys', 'rewrap', '--batch', '1e308'], /--batch must be a whole number from 1 to/],
      [['keys', 'rewrap', '--batch', '99999999999'], /--batch/],
      [['keys', 'rewrap', '--rate=-1'], /--rate/],
      [['keys', 'reindex', '--batch', '0'], /--batch must be a whole number from 1 to/],
      [['keys', 'reindex', '--rate', '1.5'], /--rate/],
      [['db', 'rollback', '--steps', '1e3'], /--steps/],
      [['db', 'rollback', '--steps', '0x10'], /--steps/],
      [['serve', '--port', '70000'], /--port/],
      [['demo', '--port', '1.5'], /--port/],
      [['audit', 'retention', '--years', '1e9'], /--years/],
      [['org', 'update', '--id', randomUUID(), '--idle-minutes', '99999999999'], /--idle-minutes/],
      [['org', 'update', '--id', randomUUID(), '--lockout-threshold', '0'], /--lockout/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli([...args, '--json'], env);
      assertFailure(r, 2, 'bad_request', message);
    }
  });

  test('usage errors and unknown commands emit the JSON error under --json', async () => {
    assertFailure(
      await runCli(['db', 'status', '--bogus', '--json'], env),
      2,
      'bad_request',
      /bogus/,
    );
    assertFailure(
      await runCli(['nope', '--json'], env),
      2,
      'bad_request',
      /unknown command "nope"/,
    );
  });

  test('an unreachable or missing database is database_unavailable, without the password', async () => {
    const refused = await runCli(['db', 'status', '--json'], {
      ...env,
      DATABASE_URL: 'postgres://ward:s3cret@127.0.0.1:1/wardx',
    });
    assertFailure(refused, 1, 'database_unavailable', /127\.0\.0\.1:1\/wardx \(ECONNREFUSED\)/);
    const base = process.env['WARD_TEST_DATABASE_URL'];
    if (!base) return;
    const u = new URL(base);
    u.pathname = `/ward_absent_${randomBytes(6).toString('hex')}`;
    const absent = await runCli(['keys', 'status', '--json'], {
      ...env,
      DATABASE_URL: u.toString(),
    });
    assertFailure(
      absent,
      1,
      'database_unavailable',
      /ward_absent_\w+: the database does not exist \(3D000\)/,
    );
  });
});

describe(`CLI failures on an unmigrated database (${defaultEngine()})`, () => {
  let t: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv;
  const dataDir = fs.mkdtempSync(path.join(scratch, 'unmigrated-'));
  before(async () => {
    if (defaultEngine() === 'postgres') {
      t = await createTestDatabase({ engine: 'postgres', migrated: false });
      env = { DATABASE_URL: t.url, WARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
    } else {
      env = {};
    }
    env = { ...env, WARD_DATA_DIR: dataDir, WARD_LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await t?.close();
  });

  test('every data command says the database is not migrated', async () => {
    const icd = path.join(scratch, 'codes.txt');
    fs.writeFileSync(icd, 'A000 Cholera\n');
    for (const args of [
      ['org', 'create', '--name', 'X', '--type', 'provider'],
      [
        'user',
        'create',
        '--org',
        randomUUID(),
        '--email',
        'a@b.test',
        '--role',
        'nurse',
        '--password-stdin',
      ],
      ['keys', 'status'],
      ['keys', 'rotate'],
      ['keys', 'rewrap'],
      ['keys', 'reindex'],
      ['audit', 'seal'],
      ['audit', 'verify'],
      ['audit', 'keys', 'list'],
      ['icd10', 'import', '--file', icd, '--version', '2099'],
      ['seed', '--scale', '1'],
      ['objects', 'sweep'],
      ['db', 'diagram', '--out', path.join(scratch, 'schema.md')],
    ]) {
      const r = await runCli([...args, '--json'], env, 'a long enough passphrase here\n');
      assertFailure(r, 1, 'config_invalid', /^the database is not migrated; run `ward db migrate`/);
    }
    // The db commands themselves still work.
    const s = await runCli(['db', 'status', '--json'], env);
    assert.equal(s.code, 0, s.stderr);
  });
});

describe(`CLI failures on a migrated database (${defaultEngine()})`, () => {
  let target: CliTarget;
  before(async () => {
    target = await createCliTarget(defaultEngine());
  });
  after(async () => {
    await target.close();
  });

  test('--out paths that cannot be written are named', async () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'out-'));
    assertFailure(
      await runCli(['db', 'diagram', '--out', dir, '--json'], target.env),
      1,
      'bad_request',
      new RegExp(`cannot open ${dir}: it is a directory \\(EISDIR\\)`),
    );
    const missing = path.join(dir, 'no', 'such', 'security.md');
    assertFailure(
      await runCli(['keys', 'inventory', '--out', missing, '--json'], target.env),
      1,
      'not_found',
      new RegExp(`cannot open ${missing}: no such file or directory \\(ENOENT\\)`),
    );
  });

  test('an unknown organization is not_found, not an unexpected error', async () => {
    assertFailure(
      await runCli(['keys', 'rotate', '--org', randomUUID(), '--json'], target.env),
      1,
      'not_found',
      /does not exist/,
    );
  });

  test('a missing PKCS#11 PIN file is config_invalid naming the variable', async () => {
    const pinFile = path.join(scratch, 'absent-pin');
    const r = await runCli(['keys', 'rotate', '--json'], {
      ...target.env,
      WARD_MASTER_KEY: undefined,
      WARD_KEK_PROVIDER: 'pkcs11',
      WARD_PKCS11_TOKEN_LABEL: 'ward',
      WARD_PKCS11_KEY_LABEL: 'kek',
      WARD_PKCS11_PIN_FILE: pinFile,
    });
    assertFailure(
      r,
      1,
      'config_invalid',
      /^WARD_PKCS11_PIN_FILE does not name a readable file: .*\(ENOENT\)/,
    );
    assert.ok(
      !r.stderr.includes(pinFile) && !r.stdout.includes(pinFile),
      'the value is not echoed',
    );
  });

  test('serve on a port in use names host:port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['serve', '--port', String(port), '--json'], target.env);
      assertFailure(
        r,
        1,
        'conflict',
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
