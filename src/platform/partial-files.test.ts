import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { partialPath, removeStalePartials } from './partial-files.ts';

/** A partial file name of `stem` as if written on this host by `pid`. */
function nameFor(dir: string, stem: string, pid: number): string {
  const mine = path.basename(partialPath(dir, stem));
  return mine.replace(`.${String(process.pid)}.`, `.${String(pid)}.`);
}

describe('partial files of killed runs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-partials-'));
  let live: ChildProcess;
  let deadPid: number;
  before(async () => {
    // A process that is running while the cleanup looks, and one that has exited.
    live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(gone, 'exit');
    deadPid = gone.pid ?? 0;
    assert.ok(deadPid > 0);
  });
  after(() => {
    live.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the name says which host and process wrote it', () => {
    const p = partialPath(dir, '.events.jsonl');
    assert.equal(path.dirname(p), dir);
    assert.match(
      path.basename(p),
      new RegExp(
        `^\\.events\\.jsonl\\.[0-9a-f]{8}\\.${String(process.pid)}\\.[0-9a-f]{12}\\.partial$`,
      ),
    );
    assert.notEqual(partialPath(dir, 'x'), partialPath(dir, 'x'), 'random per file');
  });

  test('only files of the family whose writer is gone are removed', () => {
    const stem = '.events.jsonl';
    const touch = (name: string) => {
      fs.writeFileSync(path.join(dir, name), 'half an export', { mode: 0o600 });
      return name;
    };
    const stale = touch(nameFor(dir, stem, deadPid));
    const kept = [
      touch(nameFor(dir, stem, live.pid ?? 0)), // another run, still writing
      touch(nameFor(dir, stem, process.pid)), // this process
      touch(nameFor(dir, '.other.jsonl', deadPid)), // another export's file
      touch(nameFor(dir, stem, deadPid).replace(/\.[0-9a-f]{8}\./, '.00000000.')), // another host
      touch(`${stem}.0123456789ab.partial`), // written before names carried their writer
      touch('notes.partial'),
      touch('events.jsonl'),
    ];
    // A link or a directory with a stale name is not a file this run wrote.
    const target = touch('precious.txt');
    const link = nameFor(dir, stem, deadPid).replace(
      /[0-9a-f]{12}\.partial$/,
      'aaaaaaaaaaaa.partial',
    );
    fs.symlinkSync(path.join(dir, target), path.join(dir, link));
    const subdir = nameFor(dir, stem, deadPid).replace(
      /[0-9a-f]{12}\.partial$/,
      'ffffffffffff.partial',
    );
    fs.mkdirSync(path.join(dir, subdir));

    const removed = removeStalePartials(dir, (s) => s === stem);
    assert.deepEqual(removed, [path.join(dir, stale)]);
    const left = new Set(fs.readdirSync(dir));
    for (const name of [...kept, target, link, subdir]) assert.ok(left.has(name), name);
    assert.equal(fs.readFileSync(path.join(dir, target), 'utf8'), 'half an export');
    assert.deepEqual(
      removeStalePartials(path.join(dir, 'missing'), () => true),
      [],
    );
  });
});
