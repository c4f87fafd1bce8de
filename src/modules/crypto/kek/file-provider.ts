import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isWardError, WardError } from '../../../platform/errors.ts';
import { createLocalKek, decodeMasterKey } from './local-provider.ts';
import { readOwnerOnlyFile } from './owner-only-file.ts';
import type { KekProvider } from './provider.ts';

/**
 * The `file` provider: a base64 key in a file that only its owner may read. A key file that
 * the group or others can read, or that another user owns, is refused rather than used
 * (`readOwnerOnlyFile`: checked and read through one descriptor). When `variable` named the
 * path, a path that cannot be opened is reported by the variable's name only: its value may be
 * the key itself, pasted into the wrong variable.
 */
export function createFileKek(file: string, development = false, variable?: string): KekProvider {
  let text: string;
  try {
    text = readOwnerOnlyFile(file, `The KEK file ${file}`);
  } catch (e) {
    if (isWardError(e)) throw e;
    throw new WardError(
      'kek_unavailable',
      variable
        ? `${variable} does not name a readable file; set it to the path of a file (mode 0600) holding the base64 key`
        : `The KEK file ${file} does not exist or is unreadable`,
    );
  }
  const key = decodeMasterKey(text, `The KEK file ${file}`);
  return createLocalKek(key, 'file', development);
}

/** Name of the generated development key inside the data directory. */
export const devKeyFileName = 'dev-master.key';

/**
 * Returns the development key file under `dataDir`, creating it (mode 0600) when absent.
 * @returns the path and whether it was just created
 */
export function ensureDevKeyFile(dataDir: string): { file: string; created: boolean } {
  const file = path.join(dataDir, devKeyFileName);
  if (fs.existsSync(file)) return { file, created: false };
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return { file, created: true };
  } catch (e) {
    // Another process created it first; use theirs.
    if ((e as { code?: unknown }).code === 'EEXIST') return { file, created: false };
    throw e;
  }
}
