import type { ParseArgsConfig } from 'node:util';

/** Streams a command writes to; tests substitute their own. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

/** Parsed options: strings and booleans, as `node:util` parseArgs gives them. */
export type CliValues = Record<string, string | boolean | undefined>;

/** One CLI command, e.g. `db migrate`. */
export interface Command {
  /** Words that select it, e.g. `['db', 'migrate']`. */
  readonly path: readonly string[];
  readonly summary: string;
  /** Usage line shown by --help, after `ward <path>`. */
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Runs the command; returns the process exit code. */
  run(values: CliValues, positionals: string[], io: CliIo): Promise<number>;
}

/** Writes a result as JSON (with --json) or as the human text. */
export function emit(io: CliIo, json: boolean, data: unknown, human: string): void {
  io.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
}

/** Reads a string option or returns undefined. */
export function str(values: CliValues, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}
