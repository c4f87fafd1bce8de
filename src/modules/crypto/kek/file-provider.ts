import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../../../platform/errors.ts';
import { createLocalKek, decodeMasterKey } from './local-provider.ts';
import type { KekProvider } from './provider.ts';

/**
 * The `file` provider: a base64 key in a file that only its owner may read. A key file that
 * the group or others can read is refused rather than used, because anyone who can read it
 * can decrypt every organization's data.
 */
export function createFileKek(file: string, development = false): KekProvider {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new WardError('kek_unavailable', `The KEK file ${file} does not exist or is unreadable`);
  }
  if (!stat.isFile()) throw new WardError('kek_unavailable', `The KEK file ${file} is not a file`);
  if ((stat.mode & 0o077) !== 0) {
    throw new WardError(
      'kek_unavailable',
      `The KEK file ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
    );
  }
  const key = decodeMasterKey(fs.readFileSync(file, 'utf8'), `The KEK file ${file}`);
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
