import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WardError } from '../platform/errors.ts';
import { describeFailure } from './failure.ts';

/** An error as a driver or Node throws it: a plain Error with extra fields. */
function err(
  fields: Record<string, unknown>,
  message = 'driver text with "row values" in it',
): Error {
  return Object.assign(new Error(message), fields);
}

const pgEnv = { DATABASE_URL: 'postgres://alice:s3cret-pw@db.internal:6543/wardprod' };

describe('CLI failure descriptions', () => {
  test('WardErrors keep their code and message; bad_request exits 2', () => {
    assert.deepEqual(describeFailure(new WardError('bad_request', 'no'), {}), {
      code: 'bad_request',
      message: 'no',
      exitCode: 2,
    });
    assert.equal(describeFailure(new WardError('not_found'), {}).exitCode, 1);
  });

  test('an unreachable database is database_unavailable naming host, port and database only', () => {
    for (const e of [
      err({ code: 'ECONNREFUSED', syscall: 'connect', address: '10.0.0.5', port: 6543 }),
      err({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'db.internal' }),
      err({ code: '3D000' }),
      err({ code: '28P01' }),
      err({ code: '28000' }),
      err({ code: '57P03' }),
    ]) {
      const f = describeFailure(e, pgEnv);
      assert.equal(f.code, 'database_unavailable', e.message);
      assert.match(f.message, /db\.internal:6543\/wardprod/);
      assert.ok(!f.message.includes('s3cret'), 'never the password');
      assert.ok(!f.message.includes('alice'), 'never the user');
      assert.ok(!f.message.includes('row values'), 'never the driver text');
      assert.equal(f.exitCode, 1);
    }
    assert.match(describeFailure(err({ code: '3D000' }), pgEnv).message, /does not exist/);
  });

  test('filesystem errors name the path; a configured file names its variable', () => {
    const enoent = err({ code: 'ENOENT', syscall: 'open', path: '/no/such/dir/out.json' });
    assert.deepEqual(describeFailure(enoent, {}), {
      code: 'not_found',
      message: 'cannot open /no/such/dir/out.json: no such file or directory (ENOENT)',
      exitCode: 1,
    });
    const eisdir = describeFailure(err({ code: 'EISDIR', syscall: 'open', path: '/tmp' }), {});
    assert.equal(eisdir.message, 'cannot open /tmp: it is a directory (EISDIR)');
    assert.equal(eisdir.exitCode, 1);
    assert.equal(
      describeFailure(err({ code: 'EACCES', syscall: 'open', path: '/root/x' }), {}).code,
      'forbidden',
    );
    // A variable that names where a secret is may hold the secret itself, pasted by mistake:
    // it is named, its value is not.
    for (const variable of ['WARD_PKCS11_PIN_FILE', 'WARD_KEK_FILE', 'WARD_PREVIOUS_KEK_FILE']) {
      const f = describeFailure(err({ code: 'ENOENT', syscall: 'open', path: '/12345678' }), {
        [variable]: '/12345678',
      });
      assert.deepEqual(f, {
        code: 'config_invalid',
        message: `${variable} does not name a readable file: no such file or directory (ENOENT)`,
        exitCode: 1,
      });
    }
    const dir = describeFailure(err({ code: 'EACCES', syscall: 'mkdir', path: '/srv/ward' }), {
      WARD_DATA_DIR: '/srv/ward',
    });
    assert.equal(dir.message, 'WARD_DATA_DIR names /srv/ward: permission denied (EACCES)');
  });

  test('a port in use names host:port', () => {
    const f = describeFailure(
      err({ code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 8080 }),
      {},
    );
    assert.equal(f.code, 'conflict');
    assert.match(f.message, /^cannot listen on 127\.0\.0\.1:8080: the address is already in use/);
  });

  test('SQL failures: unmigrated, out-of-range values, unknown references', () => {
    assert.deepEqual(describeFailure(err({ code: '42P01' }), pgEnv), {
      code: 'config_invalid',
      message: 'the database is not migrated; run `ward db migrate`',
      exitCode: 1,
    });
    for (const code of ['22003', '22P02', '22021']) {
      const f = describeFailure(err({ code }), pgEnv);
      assert.equal(f.code, 'validation_failed', code);
      assert.ok(!f.message.includes('row values'));
    }
    assert.equal(describeFailure(err({ code: '23503' }), pgEnv).code, 'not_found');
  });

  test('anything else is "unexpected error" with its class and code, never text or stack', () => {
    const f = describeFailure(err({ code: 'XX000' }), pgEnv);
    assert.equal(f.code, 'internal');
    assert.match(f.message, /^unexpected error: Error \(XX000\)/);
    const g = describeFailure(new TypeError('secret detail'), {});
    assert.equal(g.code, 'internal');
    assert.ok(!g.message.includes('secret detail'));
    assert.ok(!g.message.includes('at '), 'no stack frames');
    assert.equal(describeFailure('a string', {}).code, 'internal');
  });
});
