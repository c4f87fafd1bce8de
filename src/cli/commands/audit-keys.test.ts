import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { lastJson, runCli } from '../../../test/helpers/cli.ts';
import { signerFromSeed } from '../../modules/audit/signer.ts';

// The CLI over the key custody, on the embedded engine with an explicit master key.
describe('ward audit keys / seal / verify (embedded)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-audit-keys-'));
  const masterKey = Buffer.alloc(32, 3).toString('base64');
  const env = { WARD_DATA_DIR: dir, WARD_MASTER_KEY: masterKey, WARD_LOG_LEVEL: 'error' };
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('seal creates the key; rotate, import and verify with exported files', async () => {
    assert.equal((await runCli(['db', 'migrate'], env)).code, 0);
    const sealed = await runCli(['audit', 'seal', '--json'], env);
    assert.equal(sealed.code, 0, sealed.stderr);
    const list1 = lastJson<{ keys: { keyId: string; status: string; check: string }[] }>(
      await runCli(['audit', 'keys', 'list', '--json'], env),
    );
    assert.equal(list1.keys.length, 1);
    assert.deepEqual([list1.keys[0]?.status, list1.keys[0]?.check], ['active', 'ok']);
    const first = list1.keys[0]?.keyId ?? '';

    const pub = path.join(dir, 'first.pub.json');
    assert.equal(
      (await runCli(['audit', 'checkpoint', 'export', '--public-key', '--out', pub], env)).code,
      0,
    );
    assert.equal((JSON.parse(fs.readFileSync(pub, 'utf8')) as { keyId: string }).keyId, first);

    const rotated = lastJson<{ retired: string; active: string }>(
      await runCli(['audit', 'keys', 'rotate', '--json'], env),
    );
    assert.equal(rotated.retired, first);
    assert.equal((await runCli(['audit', 'seal'], env)).code, 0);
    const cp = path.join(dir, 'checkpoint.json');
    assert.equal((await runCli(['audit', 'checkpoint', 'export', '--out', cp], env)).code, 0);
    const exported = JSON.parse(fs.readFileSync(cp, 'utf8')) as {
      keyId: string;
      publicKey: string;
    };
    assert.equal(exported.keyId, rotated.active);
    assert.ok(exported.publicKey, 'the exported checkpoint carries its (vouched) public key');

    const verified = await runCli(['audit', 'verify', '--json'], env);
    assert.equal(verified.code, 0, verified.stdout);
    // Without the KEK, the exported files alone verify the log.
    const noKek = { ...env, WARD_MASTER_KEY: Buffer.alloc(32, 4).toString('base64') };
    const offline = await runCli(
      ['audit', 'verify', '--checkpoint', cp, '--public-key', pub, '--json'],
      noKek,
    );
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
    assert.match(offline.stderr, /not trusted without their KEK/);

    // A KEK that cannot open the keys proves nothing: list says so but does not fail.
    const listed = await runCli(['audit', 'keys', 'list', '--json'], noKek);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(
      lastJson<{ keys: { check: string }[] }>(listed).keys.every((k) =>
        /cannot be unwrapped/.test(k.check),
      ),
    );

    // A wrong KEK: sealing fails clearly with a non-zero exit.
    const wrong = await runCli(['audit', 'seal'], noKek);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /audit signing key ed25519:[0-9a-f]+ cannot be unwrapped/);

    // Import: the explicit path for a key that used to live in WARD_AUDIT_SIGNING_KEY.
    const seed = Buffer.alloc(32, 8);
    const bad = await runCli(['audit', 'keys', 'import'], {
      ...env,
      WARD_AUDIT_SIGNING_KEY: 'abc',
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /exactly 32 bytes/);
    const imported = lastJson<{ keyId: string; retired: string }>(
      await runCli(['audit', 'keys', 'import', '--json'], {
        ...env,
        WARD_AUDIT_SIGNING_KEY: seed.toString('base64'),
      }),
    );
    assert.equal(imported.keyId, signerFromSeed(seed).keyId);
    assert.equal(imported.retired, rotated.active);
    const again = await runCli(['audit', 'keys', 'import'], {
      ...env,
      WARD_AUDIT_SIGNING_KEY: seed.toString('base64'),
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already held/);
    const list2 = lastJson<{ keys: { status: string; check: string }[] }>(
      await runCli(['audit', 'keys', 'list', '--json'], env),
    );
    assert.deepEqual(
      list2.keys.map((k) => [k.status, k.check]),
      [
        ['retired', 'ok'],
        ['retired', 'ok'],
        ['active', 'ok'],
      ],
    );
  });
});
