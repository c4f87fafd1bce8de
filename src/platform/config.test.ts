import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from './config.ts';
import { isWardError } from './errors.ts';

describe('loadConfig', () => {
  test('an unknown WARD_LOG_LEVEL is config_invalid naming the levels, not the value', () => {
    const secret = 'c2VjcmV0LWtleS1wYXN0ZWQtaGVyZQ==';
    assert.throws(
      () => loadConfig({ WARD_LOG_LEVEL: secret }),
      (e) =>
        isWardError(e, 'config_invalid') &&
        /WARD_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent/.test(
          e.message,
        ) &&
        !e.message.includes(secret),
    );
    assert.equal(loadConfig({ WARD_LOG_LEVEL: 'debug' }).logLevel, 'debug');
    assert.equal(loadConfig({}).logLevel, 'info');
  });
});
