import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../../../platform/errors.ts';
import { createLocalKek, decodeMasterKey } from './local-provider.ts';
import type { KekProvider } from './provider.ts';

/**
 * The `file` provider: a base64 key in a file that only its owner may read. A key file that
 * the group or others can read, or that another user owns (who could read or rewrite it at
 * will), is refused rather than used, because anyone who can read it can decrypt every
 * organization's data. The checks and the read go through one open descriptor, so the key
 * used is the file that was checked even if the path is swapped meanwhile; a symbolic link is
 * followed (secret volumes are mounted that way) and its target is what is checked.
 */
export function createFileKek(file: string, development = false): KekProvider {
  let fd: number;
  try {
    // Non-blocking, so a FIFO planted at the path fails the file check instead of hanging.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    throw new WardError('kek_unavailable', `The KEK file ${file} does not exist or is unreadable`);
  }
  let text: string;
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile())
      throw new WardError('kek_unavailable', `The KEK file ${file} is not a file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new WardError(
        'kek_unavailable',
        `The KEK file ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      );
    }
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
      throw new WardError(
        'kek_unavailable',
        `The KEK file ${file} is owned by uid ${stat.uid}, not by this process (uid ${uid}) or root; run: chown ${uid} ${file}`,
      );
    }
    text = fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
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
