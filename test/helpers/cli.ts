import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.ts';

/** What one CLI invocation printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with its own streams and environment. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<CliRun> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c: Buffer) => (stdout += c.toString()));
  err.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await main(args, { stdout: out, stderr: err, stdin: Readable.from([stdin]), env });
  return { code, stdout, stderr };
}

/** Parses the last JSON line a `--json` command printed. */
export function lastJson<T>(run: CliRun): T {
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines.at(-1) ?? 'null') as T;
}
