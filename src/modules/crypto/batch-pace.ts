import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';

/**
 * Pacing shared by the online key jobs (`keys rewrap`, `keys reindex`): they run next to
 * production traffic, so they go in small transactions, at most at a configured rate, and give
 * the event loop back while they compute.
 */

/**
 * The size of one batch: `batchSize`, cut to one second's worth when a rate is set (a batch is
 * written at once, so a batch larger than the rate would be a burst above it).
 */
export function batchLimit(batchSize: number, maxPerSecond?: number): number {
  return Math.min(batchSize, maxPerSecond ?? Infinity);
}

/** Keeps a job at or below `maxPerSecond` units per second on average since it was created. */
export class Pace {
  readonly #started = Date.now();
  readonly #maxPerSecond: number | undefined;

  constructor(maxPerSecond?: number) {
    this.#maxPerSecond = maxPerSecond;
  }

  /** Waits until `done` units (the running total) are within the rate; at once without one. */
  async after(done: number): Promise<void> {
    if (!this.#maxPerSecond) return;
    const due = this.#started + (done / this.#maxPerSecond) * 1000 - Date.now();
    if (due > 0) await sleep(due);
  }
}

/**
 * Values handled between two yields to the event loop. A batch is one transaction, but its
 * cipher work is cut into slices this small so that requests sharing the process wait for at
 * most one slice, not for a whole batch.
 */
export const sliceSize = 100;

/** A counter that yields to the event loop on every `sliceSize`-th call; one per batch. */
export function cipherSlices(): () => Promise<void> {
  let n = 0;
  return async () => {
    if (++n % sliceSize === 0) await yieldToEventLoop();
  };
}
