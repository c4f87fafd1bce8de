import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type pg from 'pg';
import type { BenchResult } from './types.ts';

/** Throughput and latency of one side of a comparison. */
export interface Measurement {
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p99: number;
}

/**
 * Runs `op(i)` for i in [0, total) from `concurrency` workers and measures wall-clock
 * throughput and per-operation latency. A short warm-up is excluded from the figures.
 */
export async function measure(
  total: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<Measurement> {
  const warmup = Math.min(200, Math.floor(total / 10));
  for (let i = 0; i < warmup; i++) await op(total + i);
  const latencies = new Float64Array(total);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const t0 = performance.now();
        await op(i);
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort();
  return {
    opsPerSec: total / elapsed,
    p50: latencies[Math.floor(total * 0.5)] ?? 0,
    p99: latencies[Math.min(total - 1, Math.floor(total * 0.99))] ?? 0,
  };
}

/** Builds a result line from the two sides of a comparison (latencies are Ward's). */
export function compare(
  workload: string,
  op: string,
  ward: Measurement,
  bare: Measurement | undefined,
): BenchResult {
  const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
  return {
    workload,
    op,
    ward_ops_s: round(ward.opsPerSec, 0),
    bare_ops_s: bare ? round(bare.opsPerSec, 0) : 0,
    ratio: bare ? round(ward.opsPerSec / bare.opsPerSec, 3) : 0,
    p50_ms: round(ward.p50, 3),
    p99_ms: round(ward.p99, 3),
    rss_mb: round(process.memoryUsage().rss / 1_048_576, 1),
  };
}

/** CPU time consumed so far, in µs: this process (plus any child processes named) and PostgreSQL. */
export interface Cpu {
  /** This process, plus the child processes passed to `cpuSampler`. */
  node: number;
  /** The backends serving the database, including those that have exited since. */
  pg: number;
  /** The child processes alone (already included in `node`). */
  children?: number;
}

/** Per-process CPU time in µs from `/proc/<pid>/stat` (utime + stime), or undefined. */
function procCpuUs(pid: number, tick: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) / tick) * 1e6;
  } catch {
    return undefined; // not local, or gone
  }
}

/**
 * On a shared machine throughput swings with other work, but the CPU each operation costs
 * does not: a sampler of this process's CPU, of `childPids` (a server under test), and of the
 * PostgreSQL backends serving `dbName` (from /proc, when the server is local).
 */
export function cpuSampler(
  admin: pg.Client | pg.Pool,
  dbName: string,
  childPids: readonly number[] = [],
): () => Promise<Cpu> {
  let tick = 100;
  try {
    tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    // keep the Linux default
  }
  // Backends that have exited keep their last reading, so a sum never goes backwards.
  const last = new Map<number, number>();
  return async () => {
    const r = await admin.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = $1',
      [dbName],
    );
    for (const { pid } of r.rows) {
      const us = procCpuUs(pid, tick);
      if (us !== undefined) last.set(pid, us);
    }
    let pgUs = 0;
    for (const v of last.values()) pgUs += v;
    let children = 0;
    for (const pid of childPids) children += procCpuUs(pid, tick) ?? 0;
    const u = process.cpuUsage();
    return { node: u.user + u.system + children, pg: pgUs, children };
  };
}
