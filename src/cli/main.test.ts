import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, defaultEngine, type TestDatabase } from '../../test/helpers/db.ts';
import { lastJson, runCli } from '../../test/helpers/cli.ts';
import { createPgliteDriver } from '../platform/db/pglite.ts';
import { isWardError } from '../platform/errors.ts';

// The CLI against a real database: a fresh PostgreSQL database when configured, otherwise an
// embedded data directory of its own.
describe(`ward CLI (${defaultEngine()})`, () => {
  let t: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-cli-'));

  before(async () => {
    if (defaultEngine() === 'postgres') {
      t = await createTestDatabase({ engine: 'postgres', migrated: false });
      env = { DATABASE_URL: t.url, WARD_LOG_LEVEL: 'silent' };
    } else {
      env = { WARD_DATA_DIR: dataDir, WARD_LOG_LEVEL: 'silent' };
    }
  });
  after(async () => {
    await t?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('an empty WARD_LOG_LEVEL means the default, and an unknown one is named, not echoed', async () => {
    const empty = await runCli(['db', 'status', '--json'], { ...env, WARD_LOG_LEVEL: '' });
    assert.equal(empty.code, 0, empty.stderr);
    const unknown = await runCli(['db', 'status'], { ...env, WARD_LOG_LEVEL: 'sekrit-value' });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /WARD_LOG_LEVEL must be one of/);
    assert.doesNotMatch(unknown.stderr, /sekrit-value/);
  });

  test('--help lists the core commands', async () => {
    const r = await runCli(['--help'], env);
    assert.equal(r.code, 0);
    for (const c of [
      'serve',
      'demo',
      'db migrate',
      'db rollback',
      'db diagram',
      'org create',
      'user create',
    ]) {
      assert.ok(r.stdout.includes(`ward ${c}`), `help lacks ${c}`);
    }
  });

  test('db migrate and db status report in JSON', async () => {
    const m = await runCli(['db', 'migrate', '--json'], env);
    assert.equal(m.code, 0, m.stderr);
    assert.ok(lastJson<{ applied: number[] }>(m).applied.length >= 2);
    const s = await runCli(['db', 'status', '--json'], env);
    const status = lastJson<{ migrations: { state: string }[] }>(s);
    assert.ok(status.migrations.every((x) => x.state === 'applied'));
  });

  test('org create and user create, password from stdin only', async () => {
    const o = await runCli(
      ['org', 'create', '--name', 'CLI Clinic', '--type', 'provider', '--json'],
      env,
    );
    assert.equal(o.code, 0, o.stderr);
    const org = lastJson<{ id: string }>(o);
    assert.match(org.id, /^[0-9a-f-]{36}$/);
    const u = await runCli(
      [
        'user',
        'create',
        '--org',
        org.id,
        '--email',
        'Nurse@CLI.test',
        '--role',
        'nurse',
        '--password-stdin',
        '--json',
      ],
      env,
      'a long enough passphrase\n',
    );
    assert.equal(u.code, 0, u.stderr);
    const user = lastJson<{ email: string; roles: string[] }>(u);
    assert.equal(user.email, 'nurse@cli.test');
    assert.deepEqual(user.roles, ['nurse']);

    const dup = await runCli(
      [
        'user',
        'create',
        '--org',
        org.id,
        '--email',
        'nurse@cli.test',
        '--role',
        'nurse',
        '--password-stdin',
      ],
      env,
      'another long passphrase',
    );
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already_exists/);

    const weak = await runCli(
      [
        'user',
        'create',
        '--org',
        org.id,
        '--email',
        'x@cli.test',
        '--role',
        'nurse',
        '--password-stdin',
      ],
      env,
      'short',
    );
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /at least 15 characters/);
    assert.ok(!weak.stderr.includes('short'), 'the password must not be echoed');

    const badRole = await runCli(
      [
        'user',
        'create',
        '--org',
        org.id,
        '--email',
        'y@cli.test',
        '--role',
        'wizard',
        '--password-stdin',
      ],
      env,
      'a long enough passphrase',
    );
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /no role named/);
  });

  test('org update changes security settings and keeps MFA required for admin', async () => {
    const org = lastJson<{ id: string }>(
      await runCli(
        ['org', 'create', '--name', 'Settings Clinic', '--type', 'provider', '--json'],
        env,
      ),
    );
    const ok = await runCli(
      [
        'org',
        'update',
        '--id',
        org.id,
        '--mfa-roles',
        'admin,doctor',
        '--idle-minutes',
        '10',
        '--json',
      ],
      env,
    );
    assert.equal(ok.code, 0, ok.stderr);
    const settings = lastJson<{
      settings: { mfaRequiredRoles: string[]; sessionIdleMinutes: number };
    }>(ok).settings;
    assert.deepEqual(settings.mfaRequiredRoles, ['admin', 'doctor']);
    assert.equal(settings.sessionIdleMinutes, 10);
    const lift = await runCli(['org', 'update', '--id', org.id, '--mfa-roles', 'doctor'], env);
    assert.equal(lift.code, 1);
    assert.match(lift.stderr, /MFA stays required for admin/);
    assert.equal((await runCli(['org', 'update', '--id', org.id], env)).code, 2);
    const other = await runCli(
      ['org', 'update', '--id', '00000000-0000-4000-8000-000000000009', '--idle-minutes', '5'],
      env,
    );
    assert.equal(other.code, 1, 'an unknown organization is not found');
  });

  test('a user cannot be created in an organization that does not exist', async () => {
    const r = await runCli(
      [
        'user',
        'create',
        '--org',
        '00000000-0000-4000-8000-000000000001',
        '--email',
        'z@cli.test',
        '--role',
        'admin',
        '--password-stdin',
      ],
      env,
      'a long enough passphrase',
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not_found/);
  });

  test('usage errors exit 2 with a message; no password on the command line', async () => {
    assert.equal((await runCli(['frobnicate'], env)).code, 2);
    assert.equal((await runCli(['org', 'create', '--name', 'x'], env)).code, 2);
    const argvPassword = await runCli(
      [
        'user',
        'create',
        '--org',
        'x',
        '--email',
        'e@x.test',
        '--role',
        'admin',
        '--password',
        'secret',
      ],
      env,
    );
    assert.equal(argvPassword.code, 2);
    assert.match(argvPassword.stderr, /Unknown option '--password'/);
    const badType = await runCli(['org', 'create', '--name', 'X', '--type', 'bank', '--json'], env);
    assert.equal(badType.code, 1);
    assert.equal(lastJson<{ error: { code: string } }>(badType).error.code, 'validation_failed');
  });

  test('without a terminal and without --password-stdin, user create refuses', async () => {
    const r = await runCli(
      [
        'user',
        'create',
        '--org',
        '00000000-0000-4000-8000-000000000001',
        '--email',
        'p@x.test',
        '--role',
        'admin',
      ],
      env,
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--password-stdin/);
  });

  test('db diagram writes a Mermaid ER diagram of the live schema', async () => {
    const out = path.join(dataDir, 'schema.md');
    const r = await runCli(['db', 'diagram', '--out', out], env);
    assert.equal(r.code, 0, r.stderr);
    const doc = fs.readFileSync(out, 'utf8');
    assert.match(doc, /```mermaid\nerDiagram/);
    assert.match(doc, /ward_organizations \|\|--o\{ ward_users/);
    assert.equal((await runCli(['db', 'diagram', '--out', out, '--check'], env)).code, 0);
    fs.appendFileSync(out, 'stale');
    assert.equal((await runCli(['db', 'diagram', '--out', out, '--check'], env)).code, 1);
  });
});

test('the embedded data directory refuses a second process', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-lock-'));
  try {
    // A lock held by a live process that is not us (our parent) must be respected.
    fs.writeFileSync(path.join(dir, 'ward.lock'), String(process.ppid));
    await assert.rejects(createPgliteDriver({ dataDir: dir }), (e: unknown) =>
      isWardError(e, 'database_unavailable'),
    );
    // A stale lock (no such process) is taken over.
    fs.writeFileSync(path.join(dir, 'ward.lock'), '999999999');
    const d = await createPgliteDriver({ dataDir: dir });
    await d.close();
    assert.equal(fs.existsSync(path.join(dir, 'ward.lock')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
