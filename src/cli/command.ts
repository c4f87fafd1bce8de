import type { ParseArgsConfig } from 'node:util';
import { WardError } from '../platform/errors.ts';

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
  /**
   * String options that hold a whole number, with their inclusive bounds. The CLI checks them
   * centrally before `run`: digits only (no sign, exponent, fraction or hex), within bounds.
   */
  readonly numeric?: Readonly<Record<string, NumericBounds>>;
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

/** Inclusive bounds of a numeric option. */
export interface NumericBounds {
  readonly min: number;
  readonly max: number;
}

/** Largest value a PostgreSQL `integer` column holds. */
export const maxInt4 = 2_147_483_647;

/**
 * Parses a whole-number option: digits only, a safe integer, from `min` to `max`. Throws
 * `bad_request` naming the option and its range otherwise; undefined stays undefined.
 */
export function parseWholeNumber(
  v: string | undefined,
  name: string,
  { min, max }: NumericBounds,
): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d{1,16}$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new WardError('bad_request', `--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/** Reads a whole-number option within bounds (see `parseWholeNumber`). */
export function int(values: CliValues, key: string, bounds: NumericBounds): number | undefined {
  return parseWholeNumber(str(values, key), key, bounds);
}

/** Checks every option a command declares `numeric` (called by `main` before `run`). */
export function checkNumericOptions(command: Command, values: CliValues): void {
  for (const [key, bounds] of Object.entries(command.numeric ?? {})) {
    parseWholeNumber(str(values, key), key, bounds);
  }
}
