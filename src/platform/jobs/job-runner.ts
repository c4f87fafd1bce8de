/** A periodic background job. */
export interface Job {
  readonly name: string;
  /** Mean interval between the end of one run and the start of the next. */
  readonly intervalMs: number;
  run(): Promise<unknown>;
}

/** What the runner reports; the server logs it. */
export interface JobEvents {
  onError?(job: string, error: unknown): void;
}

/** A started set of jobs. */
export interface JobRunner {
  /** Stops scheduling and waits for running jobs to finish. */
  stop(): Promise<void>;
  /** Runs a job now (unless it is already running) and waits for it; for tests and CLI. */
  runNow(name: string): Promise<void>;
}

/**
 * Runs each job on its own timer with ±20 % jitter (so several servers do not fire together),
 * never overlapping a job with itself, and stops cleanly on shutdown.
 */
export function startJobs(jobs: readonly Job[], events: JobEvents = {}): JobRunner {
  let stopped = false;
  const running = new Map<string, Promise<void>>();
  const timers = new Map<string, NodeJS.Timeout>();

  const runOnce = (job: Job): Promise<void> => {
    const current = running.get(job.name);
    if (current) return current;
    const p = job
      .run()
      .then(
        () => undefined,
        (e: unknown) => events.onError?.(job.name, e),
      )
      .finally(() => running.delete(job.name));
    running.set(job.name, p);
    return p;
  };
  const schedule = (job: Job) => {
    if (stopped) return;
    const delay = job.intervalMs * (0.8 + Math.random() * 0.4);
    const timer = setTimeout(() => {
      void runOnce(job).then(() => {
        schedule(job);
      });
    }, delay);
    timer.unref();
    timers.set(job.name, timer);
  };
  for (const job of jobs) schedule(job);

  return {
    async stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      await Promise.all(running.values());
    },
    async runNow(name) {
      const job = jobs.find((j) => j.name === name);
      if (!job) throw new Error(`unknown job ${name}`);
      await runOnce(job);
    },
  };
}
