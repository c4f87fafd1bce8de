import fs from 'node:fs';
import { WardError } from '../../../platform/errors.ts';

/**
 * Reads a secret file (a KEK, a token PIN) that only its owner may read. A file that the group
 * or others can read, or that another user than this process's or root owns (who could read
 * or rewrite it at will), is refused with `kek_unavailable`, because whoever can read it holds
 * every organization's keys. The checks and the read go through one open descriptor, so the
 * content is that of the file that was checked even if the path is swapped meanwhile; a
 * symbolic link is followed (secret volumes are mounted that way) and its target is checked.
 * A path that cannot be opened throws the filesystem's own error (with `code` and `path`), so
 * the caller decides how to name it. `label` starts the messages, e.g. "The KEK file /x".
 * @example readOwnerOnlyFile('/run/secrets/kek', 'The KEK file /run/secrets/kek')
 */
export function readOwnerOnlyFile(file: string, label: string): string {
  // Non-blocking, so a FIFO planted at the path fails the file check instead of hanging.
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new WardError('kek_unavailable', `${label} is not a file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new WardError(
        'kek_unavailable',
        `${label} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      );
    }
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
      throw new WardError(
        'kek_unavailable',
        `${label} is owned by uid ${stat.uid}, not by this process (uid ${uid}) or root; run: chown ${uid} ${file}`,
      );
    }
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
