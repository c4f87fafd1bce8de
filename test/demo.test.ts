import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from './helpers/cli.ts';

const bin = path.resolve('bin/ward.mjs');
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup) await c();
});

interface DemoJson {
  address: string;
  created: boolean;
  credentialsFile: string;
  logins: { email: string; role: string; organization: string; password: string }[];
  adminTotpSecret: string;
  patients: number;
  sampleMrn: string;
}

/** Starts `ward demo --json` as a real process and resolves with its banner. */
async function startDemo(
  dataDir: string,
): Promise<{ child: ChildProcess; info: DemoJson; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, [bin, 'demo', '--port', '0', '--json'], {
    env: { PATH: process.env['PATH'], WARD_LOG_LEVEL: 'warn', WARD_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 90 s: ${err}`)), 90_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const l = out.split('\n').find((x) => x.startsWith('{"address"'));
      if (l) {
        clearTimeout(timer);
        resolve(l);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${err}`));
    });
  });
  return { child, info: JSON.parse(line) as DemoJson, stdout: () => out, stderr: () => err };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  return ((await exited) as [number | null])[0];
}

async function post(base: string, url: string, body: unknown, token?: string) {
  const res = await fetch(`${base}${url}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-purpose-of-use': 'TREAT',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function login(base: string, email: string, password: string, totpCode?: string) {
  const r = await post(base, '/api/v1/auth/login', { email, password, totpCode });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

describe('ward demo', () => {
  test('seeds synthetic data once, prints working logins, and restarts without duplicating', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-demo-data-'));
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));

    const first = await startDemo(dataDir);
    const info = first.info;
    assert.equal(info.created, true);
    assert.equal(info.patients, 40);
    assert.deepEqual([...new Set(info.logins.map((l) => l.role))].sort(), [
      'admin',
      'analyst',
      'auditor',
      'doctor',
      'nurse',
      'reviewer',
    ]);
    assert.equal(new Set(info.logins.map((l) => l.password)).size, info.logins.length);
    for (const l of info.logins) {
      assert.ok(l.password.length >= 20, 'generated passwords are long');
      assert.match(l.email, /@[a-z-]+\.example\.(org|com)$/);
    }
    assert.equal(fs.statSync(info.credentialsFile).mode & 0o777, 0o600);

    // A doctor logs in over HTTP and reads a seeded patient.
    const base = info.address;
    const doctor = info.logins.find((l) => l.role === 'doctor');
    assert.ok(doctor);
    const token = String((await login(base, doctor.email, doctor.password))['accessToken']);
    const found = await post(base, '/api/v1/patients/search', { mrn: info.sampleMrn }, token);
    assert.equal(found.status, 200);
    const items = found.body['items'] as { id: string; ssn: string }[];
    assert.equal(items.length, 1);
    const read = await fetch(`${base}/api/v1/patients/${items[0]!.id}`, {
      headers: { authorization: `Bearer ${token}`, 'x-purpose-of-use': 'TREAT' },
    });
    assert.equal(read.status, 200);
    const patient = (await read.json()) as Record<string, unknown>;
    assert.equal(patient['mrn'], info.sampleMrn);
    assert.match(String(patient['ssn']), /^9\d\d-00-\d{4}$/);

    // The admin needs the second factor; `ward demo totp` prints the current code.
    const admin = info.logins.find((l) => l.role === 'admin');
    assert.ok(admin);
    const challenge = await login(base, admin.email, admin.password);
    assert.equal(challenge['mfaRequired'], true);
    assert.equal(challenge['accessToken'], undefined);
    const totp = await runCli(['demo', 'totp'], { WARD_DATA_DIR: dataDir });
    assert.equal(totp.code, 0, totp.stderr);
    const code = totp.stdout.trim();
    assert.match(code, /^\d{6}$/);
    const adminSession = await login(base, admin.email, admin.password, code);
    assert.equal(typeof adminSession['accessToken'], 'string');
    assert.equal(await stop(first.child), 0);
    // With --json stdout holds the banner object only; log lines (the development-KEK
    // warning among them) go to stderr.
    assert.deepEqual(
      first
        .stdout()
        .split('\n')
        .filter((l) => l !== ''),
      [JSON.stringify(info)],
    );
    assert.match(first.stderr(), /DEVELOPMENT master key/);

    // A restart on the same data reuses everything and prints the same logins.
    const second = await startDemo(dataDir);
    assert.equal(second.info.created, false);
    assert.equal(second.info.patients, 40);
    assert.deepEqual(second.info.logins, info.logins);
    assert.equal(second.info.adminTotpSecret, info.adminTotpSecret);
    const again = String(
      (await login(second.info.address, doctor.email, doctor.password))['accessToken'],
    );
    const once_ = await post(
      second.info.address,
      '/api/v1/patients/search',
      { mrn: info.sampleMrn },
      again,
    );
    assert.equal((once_.body['items'] as unknown[]).length, 1, 'no duplicate patients');
    assert.equal(await stop(second.child), 0);
  });

  test('demo totp without a demo says how to start one', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-demo-none-'));
    cleanup.push(async () => fs.rmSync(empty, { recursive: true, force: true }));
    const r = await runCli(['demo', 'totp'], { WARD_DATA_DIR: empty });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No demo credentials .* start the demo with `ward demo` first/);
  });
});
