import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { partialPath } from '../../src/platform/partial-files.ts';
import { runCli } from '../helpers/cli.ts';
import { createCliTarget, type CliTarget } from '../helpers/cli-target.ts';
import { availableEngines } from '../helpers/db.ts';

// `ward audit export --out` and `ward audit retention` write a 0600 `.partial` file and rename
// it once complete. A run killed before the rename left that file behind forever; the next run
// of the same command now removes it — and never one a live run is still writing.

const bin = path.resolve('bin/ward.mjs');

/** Starts `ward <args>` in its own process (so it can be SIGKILLed). */
function spawnWard(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** Waits until a file matching `pattern` appears in `dir`; returns its name. */
async function appears(dir: string, pattern: RegExp, child: ChildProcess): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const hit = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => pattern.test(n)) : undefined;
    if (hit) return hit;
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before writing`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no ${String(pattern)} in ${dir} within 60 s`);
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** A process that stays alive while the next run looks: it stands for a concurrent run. */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
}

/** A partial file name in `dir` as `pid` on this host would have written it. */
function partialOf(dir: string, stem: string, pid: number): string {
  const name = path.basename(partialPath(dir, stem));
  return name.replace(`.${String(process.pid)}.`, `.${String(pid)}.`);
}

const range = ['--from', '2000-01-01', '--to', '2100-01-01'];

for (const engine of availableEngines()) {
  test(`a SIGKILLed audit export leaves a partial file the next export removes (${engine})`, async () => {
    const target: CliTarget = await createCliTarget(engine);
    const live = liveProcess();
    try {
      const dir = path.join(target.dataDir, 'exports');
      fs.mkdirSync(dir);
      const out = path.join(dir, 'events.jsonl');
      const partial = /^\.events\.jsonl\.[0-9a-f.]+\.partial$/;
      // The export opens its partial file before it opens the database: kill it there.
      const child = spawnWard(['audit', 'export', ...range, '--out', out], target.env);
      const left = await appears(dir, partial, child);
      await kill(child);
      assert.equal(fs.statSync(path.join(dir, left)).mode & 0o777, 0o600);
      assert.equal(fs.existsSync(out), false, 'nothing that looks complete');
      // What the next run must leave alone: a live run's file, another export's file.
      const busy = partialOf(dir, '.events.jsonl', live.pid ?? 0);
      const other = partialOf(dir, '.other.jsonl', child.pid ?? 0);
      for (const name of [busy, other]) fs.writeFileSync(path.join(dir, name), '', { mode: 0o600 });

      const again = await runCli(['audit', 'export', ...range, '--out', out], target.env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /removed 1 partial file\(s\) an interrupted export/);
      assert.ok(fs.readFileSync(out, 'utf8').length > 0);
      assert.deepEqual(fs.readdirSync(dir).sort(), [busy, 'events.jsonl', other].sort());
    } finally {
      live.kill('SIGKILL');
      await target.close();
    }
  });
}

// Retention writes its partial file once it has the database open; holding a lock on the old
// month makes the export wait there, so the kill lands while the partial file is being written.
if (availableEngines().includes('postgres')) {
  test('a SIGKILLed retention run leaves a partial file the next run removes (postgres)', async () => {
    const target = await createCliTarget('postgres');
    const live = liveProcess();
    const rt = await target.open();
    let release = () => {};
    try {
      await rt.db.asSystem({ name: 'test.old-partition', reason: 'test' }, (tx) =>
        tx.query("select audit.ensure_partitions('2015-01-01', 1)"),
      );
      await rt.db.asAdmin((tx) =>
        tx.query(
          `insert into audit.events (organization_id, occurred_at, actor_type, action, event_type)
           select '00000000-0000-0000-0000-000000000000', timestamptz '2015-01-10 12:00+00'
                  + make_interval(hours => g), 'system', 'R', 'old.read'
             from generate_series(1, 10) g`,
        ),
      );
      const outDir = path.join(target.dataDir, 'archive');
      const args = ['audit', 'retention', '--apply', '--export-only', '--out', outDir];
      // A transaction of the test's own holds the old month until the killed run is gone.
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holding = rt.db.asAdmin(async (tx) => {
        await tx.exec('LOCK TABLE audit.events_2015_01 IN ACCESS EXCLUSIVE MODE');
        locked();
        await released;
      });
      await isLocked;
      const child = spawnWard(args, target.env);
      const partial = /^audit-events_2015_01\.jsonl\.[0-9a-f.]+\.partial$/;
      const left = await appears(outDir, partial, child);
      await kill(child);
      release();
      await holding;
      assert.ok(fs.existsSync(path.join(outDir, left)), 'the killed run left its partial file');
      const busy = partialOf(outDir, 'audit-events_2015_02.jsonl', live.pid ?? 0);
      fs.writeFileSync(path.join(outDir, busy), '', { mode: 0o600 });

      const again = await runCli([...args, '--json'], target.env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /removed 1 partial file\(s\) an interrupted retention run/);
      assert.deepEqual(fs.readdirSync(outDir).sort(), [busy, 'audit-events_2015_01.jsonl'].sort());
      assert.equal(
        fs.readFileSync(path.join(outDir, 'audit-events_2015_01.jsonl'), 'utf8').trim().split('\n')
          .length,
        10,
      );
    } finally {
      release();
      live.kill('SIGKILL');
      await rt.close();
      await target.close();
    }
  });
}
