/** One line of benchmark output: Ward against bare PostgreSQL for one operation. */
export interface BenchResult {
  workload: string;
  op: string;
  ward_ops_s: number;
  bare_ops_s: number;
  /** ward_ops_s / bare_ops_s; 0 when the operation has no bare counterpart. */
  ratio: number;
  p50_ms: number;
  p99_ms: number;
  rss_mb: number;
  /**
   * CPU per operation in µs as `node+postgres` (this process + the database's backends), where
   * a workload measures it; steadier than throughput on a shared machine.
   */
  ward_cpu_us?: string;
  bare_cpu_us?: string;
  /** bare CPU per operation / Ward CPU per operation (node + postgres): the cost ratio. */
  cpu_ratio?: number;
  /**
   * Where a workload drives a server in a child process: Ward's CPU per operation split as
   * `client+server+postgres` µs (the load generator in this process, the server, the backends).
   */
  ward_cpu_split_us?: string;
}

/** Options every workload receives. */
export interface WorkloadOptions {
  /** A fresh database created for this run, dropped afterwards. */
  readonly databaseUrl: string;
  readonly quick: boolean;
  /** Parts of a workload to leave out (`--skip PART`, repeatable; each workload names its parts). */
  readonly skip: readonly string[];
}

/** A workload module: `bench/workloads/<name>.ts` exports `run`. */
export type Workload = (opts: WorkloadOptions) => Promise<BenchResult[]>;
