import { WardError } from '../../../platform/errors.ts';
import { createFileKek, ensureDevKeyFile } from './file-provider.ts';
import { createLocalKek, decodeMasterKey } from './local-provider.ts';
import { readOwnerOnlyFile } from './owner-only-file.ts';
import { createPkcs11Kek } from './pkcs11-provider.ts';
import type { KekProvider, KekSet } from './provider.ts';

/** What KEK selection needs to know about the process. */
export interface KekSelection {
  readonly env: NodeJS.ProcessEnv;
  /** Whether the embedded database is in use: only then may a development key be generated. */
  readonly embedded: boolean;
  readonly dataDir: string;
  /** Told loudly when the generated development key is in use. */
  readonly warn: (message: string) => void;
}

const defaultPkcs11Module = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * Chooses the KEK: `WARD_KEK_PROVIDER` when set (env, file, pkcs11); otherwise `env` when
 * `WARD_MASTER_KEY` is set; otherwise, on the embedded database only, a generated development
 * key file under the data directory. With PostgreSQL and no key configured it refuses.
 * `WARD_PREVIOUS_MASTER_KEY` / `WARD_PREVIOUS_KEK_FILE` name a KEK being rotated away from.
 */
export function selectKek(sel: KekSelection): KekSet {
  const env = sel.env;
  const choice = nonEmpty(env['WARD_KEK_PROVIDER']);
  let current: KekProvider;
  if (choice === 'env' || (choice === undefined && nonEmpty(env['WARD_MASTER_KEY']))) {
    const text = nonEmpty(env['WARD_MASTER_KEY']);
    if (!text)
      throw new WardError('kek_unavailable', 'WARD_KEK_PROVIDER=env needs WARD_MASTER_KEY');
    current = createLocalKek(decodeMasterKey(text, 'WARD_MASTER_KEY'), 'env');
  } else if (choice === 'file') {
    const file = nonEmpty(env['WARD_KEK_FILE']);
    if (!file) throw new WardError('kek_unavailable', 'WARD_KEK_PROVIDER=file needs WARD_KEK_FILE');
    current = createFileKek(file, false, 'WARD_KEK_FILE');
  } else if (choice === 'pkcs11') {
    current = createPkcs11Kek({
      module: nonEmpty(env['WARD_PKCS11_MODULE']) ?? defaultPkcs11Module,
      tokenLabel: required(env, 'WARD_PKCS11_TOKEN_LABEL'),
      keyLabel: required(env, 'WARD_PKCS11_KEY_LABEL'),
      pin: pkcs11Pin(env),
    });
  } else if (choice !== undefined) {
    throw new WardError(
      'config_invalid',
      // Never echo the value: it may be a key pasted into the wrong variable.
      'WARD_KEK_PROVIDER must be env, file or pkcs11 (or unset to use WARD_MASTER_KEY)',
    );
  } else if (sel.embedded) {
    const { file, created } = ensureDevKeyFile(sel.dataDir);
    current = createFileKek(file, true);
    sel.warn(
      `${created ? 'Generated' : 'Using'} a DEVELOPMENT master key at ${file}. It is for development only: ` +
        'set WARD_MASTER_KEY or WARD_KEK_PROVIDER before storing real PHI.',
    );
  } else {
    throw new WardError(
      'kek_unavailable',
      'No key-encryption key is configured. With DATABASE_URL set, Ward needs WARD_MASTER_KEY ' +
        '(base64, 32 bytes) or WARD_KEK_PROVIDER=file|pkcs11 and refuses to start without one.',
    );
  }
  const previous: KekProvider[] = [];
  const prevKey = nonEmpty(env['WARD_PREVIOUS_MASTER_KEY']);
  if (prevKey)
    previous.push(createLocalKek(decodeMasterKey(prevKey, 'WARD_PREVIOUS_MASTER_KEY'), 'env'));
  const prevFile = nonEmpty(env['WARD_PREVIOUS_KEK_FILE']);
  if (prevFile) previous.push(createFileKek(prevFile, false, 'WARD_PREVIOUS_KEK_FILE'));
  return { current, previous: previous.filter((p) => p.id !== current.id) };
}

/**
 * The token PIN, from `WARD_PKCS11_PIN_FILE` (held to the KEK file's rule: whoever reads the
 * PIN can use the token key) or `WARD_PKCS11_PIN`. A file that cannot be opened throws the
 * filesystem error, which the CLI reports naming the variable.
 */
function pkcs11Pin(env: NodeJS.ProcessEnv): string {
  const pinFile = nonEmpty(env['WARD_PKCS11_PIN_FILE']);
  if (pinFile) {
    const pin = readOwnerOnlyFile(pinFile, `WARD_PKCS11_PIN_FILE (${pinFile})`).trim();
    if (!pin) throw new WardError('kek_unavailable', `WARD_PKCS11_PIN_FILE (${pinFile}) is empty`);
    return pin;
  }
  return required(env, 'WARD_PKCS11_PIN');
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = nonEmpty(env[name]);
  if (!v) throw new WardError('kek_unavailable', `WARD_KEK_PROVIDER=pkcs11 needs ${name}`);
  return v;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}
