import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, mock, test } from 'node:test';
import { isWardError } from '../../../platform/errors.ts';
import { createFileKek } from './file-provider.ts';
import { createLocalKek } from './local-provider.ts';
import { createPkcs11Kek, runTool } from './pkcs11-provider.ts';
import type { KekProvider } from './provider.ts';
import { selectKek } from './select.ts';

const ctx = { orgId: randomUUID(), purpose: 'data' as const, version: 1 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ward-kek-'));
const b64 = () => randomBytes(32).toString('base64');

async function assertWrapContract(kek: KekProvider): Promise<void> {
  const dek = randomBytes(32);
  const wrapped = await kek.wrap(dek, ctx);
  assert.ok(!wrapped.includes(dek), 'the wrapped key must not contain the key');
  assert.deepEqual(await kek.unwrap(wrapped, ctx), dek);
  // Bound to organization, purpose and version: swapping wrapped keys between rows fails.
  for (const other of [
    { ...ctx, orgId: randomUUID() },
    { ...ctx, purpose: 'index' as const },
    { ...ctx, version: 2 },
  ]) {
    await assert.rejects(kek.unwrap(wrapped, other), (e) => isWardError(e, 'kek_unavailable'));
  }
  const flipped = Buffer.from(wrapped);
  flipped[flipped.length - 1]! ^= 1;
  await assert.rejects(kek.unwrap(flipped, ctx), (e) => isWardError(e, 'kek_unavailable'));
}

describe('KEK providers', () => {
  test('env: wraps, unwraps, and binds the context', async () => {
    await assertWrapContract(createLocalKek(randomBytes(32), 'env'));
  });

  test('env: a different key has a different id and cannot unwrap', async () => {
    const a = createLocalKek(randomBytes(32), 'env');
    const b = createLocalKek(randomBytes(32), 'env');
    assert.notEqual(a.id, b.id);
    await assert.rejects(b.unwrap(await a.wrap(randomBytes(32), ctx), ctx));
  });

  test('file: accepted at mode 0600, refused when group or world readable', async () => {
    const file = path.join(tmp(), 'kek');
    fs.writeFileSync(file, b64(), { mode: 0o600 });
    await assertWrapContract(createFileKek(file));
    for (const mode of [0o640, 0o604, 0o644]) {
      fs.chmodSync(file, mode);
      assert.throws(
        () => createFileKek(file),
        (e) => isWardError(e, 'kek_unavailable') && /chmod 600/.test(e.message),
      );
    }
    assert.throws(
      () => createFileKek(path.join(tmp(), 'missing')),
      (e) => isWardError(e, 'kek_unavailable'),
    );
  });

  test('file: the key read is the file that was checked, even if the path is swapped', () => {
    const dir = tmp();
    const file = path.join(dir, 'kek');
    const checked = randomBytes(32);
    fs.writeFileSync(file, checked.toString('base64'), { mode: 0o600 });
    // Another key, readable by everyone, renamed over the path between the check and the read.
    const planted = path.join(dir, 'planted');
    fs.writeFileSync(planted, b64(), { mode: 0o644 });
    fs.chmodSync(planted, 0o644);
    const original = fs.readFileSync;
    const read = mock.method(fs, 'readFileSync', (...args: Parameters<typeof fs.readFileSync>) => {
      if (fs.existsSync(planted)) fs.renameSync(planted, file);
      return original(...args);
    });
    try {
      let kek: KekProvider | undefined;
      try {
        kek = createFileKek(file);
      } catch (e) {
        assert.ok(isWardError(e, 'kek_unavailable'), String(e));
      }
      if (kek) assert.equal(kek.id, createLocalKek(checked, 'file').id, 'used the swapped-in key');
    } finally {
      read.mock.restore();
    }
  });

  test(
    'file: a key file owned by another user is refused',
    { skip: process.getuid?.() !== 0 && 'needs root to chown' },
    () => {
      // Mode 0600 is no protection when someone else owns the file: its owner can read it (or
      // chmod it) at will, and so holds every organization's data.
      const file = path.join(tmp(), 'kek');
      fs.writeFileSync(file, b64(), { mode: 0o600 });
      fs.chownSync(file, 65534, 65534);
      assert.throws(
        () => createFileKek(file),
        (e) => isWardError(e, 'kek_unavailable') && /owned by/.test(e.message),
      );
    },
  );

  test('a key that is not 32 bytes of base64 is refused', () => {
    const warn = () => undefined;
    for (const bad of ['short', Buffer.alloc(16).toString('base64'), 'not base64 !!']) {
      assert.throws(
        () => selectKek({ env: { WARD_MASTER_KEY: bad }, embedded: true, dataDir: tmp(), warn }),
        (e) => isWardError(e, 'config_invalid'),
      );
    }
  });
});

describe('KEK selection', () => {
  const warn = () => undefined;

  test('WARD_MASTER_KEY selects env; WARD_KEK_PROVIDER wins when set', () => {
    const key = b64();
    assert.equal(
      selectKek({ env: { WARD_MASTER_KEY: key }, embedded: false, dataDir: tmp(), warn }).current
        .kind,
      'env',
    );
    const file = path.join(tmp(), 'k');
    fs.writeFileSync(file, b64(), { mode: 0o600 });
    const sel = selectKek({
      env: { WARD_MASTER_KEY: key, WARD_KEK_PROVIDER: 'file', WARD_KEK_FILE: file },
      embedded: false,
      dataDir: tmp(),
      warn,
    });
    assert.equal(sel.current.kind, 'file');
    assert.throws(() =>
      selectKek({ env: { WARD_KEK_PROVIDER: 'kms' }, embedded: true, dataDir: tmp(), warn }),
    );
  });

  test('embedded with nothing configured: a 0600 development key, announced loudly', () => {
    const dir = tmp();
    const messages: string[] = [];
    const first = selectKek({
      env: {},
      embedded: true,
      dataDir: dir,
      warn: (m) => messages.push(m),
    });
    assert.ok(first.current.development);
    assert.equal(fs.statSync(path.join(dir, 'dev-master.key')).mode & 0o777, 0o600);
    assert.match(messages[0] ?? '', /DEVELOPMENT master key/);
    // The same key is reused next time.
    assert.equal(
      selectKek({ env: {}, embedded: true, dataDir: dir, warn }).current.id,
      first.current.id,
    );
  });

  test('PostgreSQL with no key configured: refuses to start', () => {
    assert.throws(
      () => selectKek({ env: {}, embedded: false, dataDir: tmp(), warn }),
      (e) => isWardError(e, 'kek_unavailable') && /refuses to start/.test(e.message),
    );
  });

  test('a previous key is kept for unwrapping during KEK rotation', () => {
    const sel = selectKek({
      env: { WARD_MASTER_KEY: b64(), WARD_PREVIOUS_MASTER_KEY: b64() },
      embedded: false,
      dataDir: tmp(),
      warn,
    });
    assert.equal(sel.previous.length, 1);
    assert.notEqual(sel.previous[0]?.id, sel.current.id);
  });

  test('a configuration error names the variable and what it takes, never its value', () => {
    // An operator who pastes a key or PIN into the wrong variable must not see it in logs.
    const secret = 'c2VjcmV0LWtleS1wYXN0ZWQtaGVyZQ==';
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ WARD_KEK_PROVIDER: secret }, /WARD_KEK_PROVIDER must be env, file or pkcs11/],
      [{ WARD_KEK_PROVIDER: 'file', WARD_KEK_FILE: secret }, /WARD_KEK_FILE/],
      [{ WARD_MASTER_KEY: b64(), WARD_PREVIOUS_KEK_FILE: secret }, /WARD_PREVIOUS_KEK_FILE/],
      [{ WARD_MASTER_KEY: secret }, /WARD_MASTER_KEY must decode to 32 bytes/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => selectKek({ env, embedded: false, dataDir: tmp(), warn }),
        (e) => isWardError(e) && message.test(e.message) && !e.message.includes(secret),
        JSON.stringify(Object.keys(env)),
      );
    }
  });

  test('a PKCS#11 PIN file is held to the key file rule (no SoftHSM2 needed)', () => {
    const file = path.join(tmp(), 'pin');
    fs.writeFileSync(file, '12345678\n', { mode: 0o600 });
    const env = {
      WARD_KEK_PROVIDER: 'pkcs11',
      WARD_PKCS11_TOKEN_LABEL: 'ward',
      WARD_PKCS11_KEY_LABEL: 'ward-kek',
      WARD_PKCS11_PIN_FILE: file,
    };
    const select = () => selectKek({ env, embedded: false, dataDir: tmp(), warn });
    assert.equal(select().current.kind, 'pkcs11');
    // Whoever can read the PIN can use the token key, so group or world access is refused.
    for (const mode of [0o640, 0o604, 0o644]) {
      fs.chmodSync(file, mode);
      assert.throws(
        select,
        (e) =>
          isWardError(e, 'kek_unavailable') &&
          /WARD_PKCS11_PIN_FILE/.test(e.message) &&
          /chmod 600/.test(e.message) &&
          !e.message.includes('12345678'),
      );
    }
    fs.chmodSync(file, 0o600);
    if (process.getuid?.() === 0) {
      // Owned by someone else, mode 0600 protects nothing: its owner reads it at will.
      fs.chownSync(file, 65534, 65534);
      assert.throws(select, (e) => isWardError(e, 'kek_unavailable') && /owned by/.test(e.message));
      fs.chownSync(file, 0, 0);
    }
    fs.writeFileSync(file, ' \n');
    assert.throws(select, (e) => isWardError(e, 'kek_unavailable') && /empty/.test(e.message));
  });
});

test('a token tool that stops before reading its input fails the operation, not the process', async () => {
  // A refused login ends pkcs11-tool before it reads stdin; writing to the closed pipe then
  // fails with EPIPE, which must not escape as an unhandled error. A megabyte is more than a
  // pipe buffers, so the write is certain to meet the closed pipe.
  const dir = tmp();
  const tool = path.join(dir, 'refusing-tool');
  fs.writeFileSync(
    tool,
    '#!/bin/sh\necho "error: C_Login failed: CKR_PIN_INCORRECT" >&2\nexit 1\n',
    {
      mode: 0o700,
    },
  );
  await assert.rejects(
    runTool(
      { module: '/nonexistent', tokenLabel: 't', keyLabel: 'k', pin: '0', tool },
      ['--encrypt'],
      Buffer.alloc(1 << 20),
    ),
    (e) => isWardError(e, 'kek_unavailable') && /CKR_PIN_INCORRECT/.test(e.message),
  );
});

const softhsmModule = '/usr/lib/softhsm/libsofthsm2.so';
const hasSoftHsm =
  fs.existsSync(softhsmModule) && commandExists('pkcs11-tool') && commandExists('softhsm2-util');
if (!hasSoftHsm) {
  process.stderr.write(
    '# SKIPPED: PKCS#11 KEK tests need SoftHSM2 and OpenSC (apt-get install softhsm2 opensc); .ci/run installs them\n',
  );
}

describe(
  'PKCS#11 KEK against SoftHSM2',
  { skip: hasSoftHsm ? false : 'SoftHSM2/OpenSC not installed' },
  () => {
    function token() {
      const dir = tmp();
      fs.mkdirSync(path.join(dir, 'tokens'));
      const conf = path.join(dir, 'softhsm2.conf');
      fs.writeFileSync(
        conf,
        `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`,
      );
      const env = { ...process.env, SOFTHSM2_CONF: conf };
      execFileSync(
        'softhsm2-util',
        ['--init-token', '--free', '--label', 'ward', '--so-pin', '87654321', '--pin', '12345678'],
        { env, stdio: 'ignore' },
      );
      execFileSync(
        'pkcs11-tool',
        [
          '--module',
          softhsmModule,
          '--token-label',
          'ward',
          '--login',
          '--pin',
          '12345678',
          '--keygen',
          '--key-type',
          'AES:32',
          '--label',
          'ward-kek',
          '--sensitive',
        ],
        { env, stdio: 'ignore' },
      );
      return {
        module: softhsmModule,
        tokenLabel: 'ward',
        keyLabel: 'ward-kek',
        pin: '12345678',
        env: { SOFTHSM2_CONF: conf },
      };
    }

    test('wraps and unwraps through the token, binding the context', async () => {
      const kek = createPkcs11Kek(token());
      assert.equal(kek.id, 'pkcs11:ward/ward-kek');
      await assertWrapContract(kek);
    });

    test('another token key with the same label cannot unwrap', async () => {
      const a = createPkcs11Kek(token());
      const b = createPkcs11Kek(token());
      await assert.rejects(b.unwrap(await a.wrap(randomBytes(32), ctx), ctx), (e) =>
        isWardError(e, 'kek_unavailable'),
      );
    });

    test('a wrong PIN is refused with a clear message', async () => {
      const kek = createPkcs11Kek({ ...token(), pin: '00000000' });
      await assert.rejects(
        kek.wrap(randomBytes(32), ctx),
        (e) => isWardError(e, 'kek_unavailable') && /PKCS#11/.test(e.message),
      );
    });
  },
);

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
