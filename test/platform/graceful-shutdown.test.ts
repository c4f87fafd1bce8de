import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { lastJson, runCli } from '../helpers/cli.ts';

const password = 'plum orchard seventeen lanterns';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-shutdown-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// The in-flight request is made slow honestly: the client sends half of a login body, the
// server receives SIGTERM while waiting for the rest, and only then does the client finish.
test('SIGTERM lets the in-flight request finish with 200, refuses new connections and exits 0', async () => {
  const env = { PATH: process.env['PATH'], WARD_DATA_DIR: dir, WARD_LOG_LEVEL: 'warn' };
  assert.equal((await runCli(['db', 'migrate'], env)).code, 0);
  const org = await runCli(
    ['org', 'create', '--name', 'Shutdown', '--type', 'provider', '--json'],
    env,
  );
  assert.equal(org.code, 0, org.stderr);
  const orgId = lastJson<{ id: string }>(org).id;
  const user = await runCli(
    [
      'user',
      'create',
      '--org',
      orgId,
      '--email',
      'slow@example.test',
      '--role',
      'doctor',
      '--password-stdin',
    ],
    env,
    `${password}\n`,
  );
  assert.equal(user.code, 0, user.stderr);

  const child = spawn(
    process.execPath,
    [path.resolve('bin/ward.mjs'), 'serve', '--port', '0', '--json'],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no banner within 60 s')), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"address"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { address: string }).address);
      }
    });
  });
  const url = new URL(address);
  const body = JSON.stringify({ email: 'slow@example.test', password });
  const req = http.request({
    host: url.hostname,
    port: url.port,
    method: 'POST',
    path: '/api/v1/auth/login',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, 10));
  await sleep(300);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await sleep(500);
  await assert.rejects(fetch(`${address}/healthz`), 'new connections are refused while draining');
  req.end(body.slice(10));
  const r = await response;
  assert.equal(r.status, 200, r.text);
  assert.ok((JSON.parse(r.text) as { accessToken?: string }).accessToken);
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
});
