import type { CliIo } from './command.ts';

/** A progress bar on stderr (only when it is a terminal, so logs and pipes stay clean). */
export interface Progress {
  update(done: number): void;
  finish(): void;
}

/** Creates a progress bar for `total` items (total 0 shows a counter without a bar). */
export function createProgress(io: CliIo, label: string, total: number): Progress {
  const tty = io.stderr.isTTY === true;
  let last = 0;
  const draw = (done: number) => {
    if (total > 0) {
      const ratio = Math.min(1, done / total);
      const width = 30;
      const filled = Math.round(ratio * width);
      io.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${done}/${total}`,
      );
    } else {
      io.stderr.write(`\r${label} ${done}`);
    }
  };
  return {
    update(done) {
      const now = Date.now();
      if (!tty || now - last < 100) return;
      last = now;
      draw(done);
    },
    finish() {
      if (tty) io.stderr.write('\n');
    },
  };
}

/**
 * Progress of a key job on the terminal (stderr), one bar per unit of work (an organization's
 * version, an organization's table), drawn with `createProgress`.
 */
export function jobProgress(io: CliIo): {
  update(key: string, label: string, done: number, total: number): void;
  finish(): void;
} {
  let current: { key: string; bar: Progress } | undefined;
  return {
    update(key, label, done, total) {
      if (current?.key !== key) {
        current?.bar.finish();
        current = { key, bar: createProgress(io, label, total) };
      }
      current.bar.update(done);
    },
    finish: () => current?.bar.finish(),
  };
}
