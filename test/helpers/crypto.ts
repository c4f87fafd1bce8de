import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { createCrypto, type WardCrypto } from '../../src/modules/crypto/index.ts';
import { createLocalKek } from '../../src/modules/crypto/kek/local-provider.ts';
import type { KeyringOptions } from '../../src/modules/crypto/keyring.ts';

/** A fixed, test-only master key (never used outside tests). */
export const testMasterKey = createHash('sha256').update('ward test master key').digest();

/** The same key as base64, for tests that run the CLI with WARD_MASTER_KEY. */
export const testMasterKeyBase64 = testMasterKey.toString('base64');

/** A crypto module on the fixed test KEK, with logging silenced. */
export function testCrypto(opts: KeyringOptions = {}): WardCrypto {
  return createCrypto(
    { current: createLocalKek(testMasterKey, 'env'), previous: [] },
    pino({ level: 'silent' }),
    opts,
  );
}

/** The crypto module shared by fixtures in one test process. */
export const fixtureCrypto = testCrypto();
