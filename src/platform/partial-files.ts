import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// A file written whole or not at all is written to a temp file beside its target and renamed
// over it once complete. A run killed before the rename leaves the temp file behind, and no
// later run could tell it from one another run is still writing — unless the name says who
// wrote it. So the name carries the writer: `<stem>.<host>.<pid>.<random>.partial`, where
// <host> is a digest of the host name (pids are only comparable on the host that issued
// them). A later run removes a file of its own family only when it was written on this host
// by a process that no longer exists.

const suffix = /^(.+)\.([0-9a-f]{8})\.([1-9][0-9]{0,9})\.([0-9a-f]{12})\.partial$/;

/** A digest of this host's name, so a partial file names its host without disclosing it. */
function hostTag(): string {
  return createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
}

/** The temp file (in `dir`) a run of this process writes before renaming it into place. */
export function partialPath(dir: string, stem: string): string {
  return path.join(
    dir,
    `${stem}.${hostTag()}.${String(process.pid)}.${randomBytes(6).toString('hex')}.partial`,
  );
}

/** Whether a process with this pid exists on this host (EPERM: it does, under another user). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code !== 'ESRCH';
  }
}

/**
 * Removes the partial files in `dir` that runs killed before finishing left behind: only names
 * of the partial form whose stem `owns` accepts, only regular files (never a link) owned by
 * this user, and only those written on this host by a process that no longer exists. A file
 * whose writer is alive (another run, or this process), that came from another host or that
 * does not have the form is left alone. Returns the paths removed.
 */
export function removeStalePartials(dir: string, owns: (stem: string) => boolean): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const host = hostTag();
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const m = suffix.exec(name);
    if (!m || !owns(m[1] ?? '') || m[2] !== host) continue;
    const pid = Number(m[3]);
    if (pid === process.pid || processExists(pid)) continue;
    const file = path.join(dir, name);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isFile() || (uid !== undefined && st.uid !== uid)) continue;
    try {
      fs.unlinkSync(file);
      removed.push(file);
    } catch (e) {
      // Gone already (another run cleaned up at the same moment) is what was wanted.
      if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
    }
  }
  return removed;
}
