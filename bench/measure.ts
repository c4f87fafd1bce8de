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
