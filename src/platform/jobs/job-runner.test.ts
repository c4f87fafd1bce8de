import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { startJobs } from './job-runner.ts';

describe('job runner', () => {
  test('runs periodically, never overlaps a job with itself, stops cleanly', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const runner = startJobs([
      {
        name: 'slow',
        intervalMs: 5,
        async run() {
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(20);
          runs++;
          active--;
        },
      },
    ]);
    await Promise.all([runner.runNow('slow'), runner.runNow('slow')]);
    await sleep(120);
    await runner.stop();
    const after = runs;
    await sleep(50);
    assert.equal(maxActive, 1);
    assert.ok(after >= 3, `ran ${after} times`);
    assert.equal(runs, after, 'no run after stop');
  });

  test('a failing job is reported and keeps its schedule', async () => {
    const errors: string[] = [];
    let runs = 0;
    const runner = startJobs(
      [
        {
          name: 'flaky',
          intervalMs: 5,
          run: () => {
            runs++;
            return Promise.reject(new Error('boom'));
          },
        },
      ],
      { onError: (job) => errors.push(job) },
    );
    await sleep(80);
    await runner.stop();
    assert.ok(runs >= 2 && errors.length === runs);
  });
});
