import fs from 'node:fs';

/** A pino destination writing to a file descriptor, and what it has had to drop. */
export interface FdDestination {
  write(line: string): boolean;
  /** Lines refused: the reader was gone, or too much was already waiting for it. */
  readonly dropped: number;
  /** Bytes accepted and not yet written. */
  readonly pending: number;
}

/** Options of `fdDestination`; the defaults suit stdout. */
export interface FdDestinationOptions {
  /** Most bytes held for a reader that is not reading (default 4 MiB); later lines are dropped. */
  readonly maxPendingBytes?: number;
  /** Pause before writing again to a full pipe (default 50 ms). */
  readonly retryMs?: number;
}

const chunkBytes = 64 * 1024;

/**
 * Log lines to a file descriptor (stdout) that can neither block the process nor keep it
 * alive. pino's default destination retries a full pipe (EAGAIN) every 100 ms, forever, on a
 * timer that holds the event loop: a `ward serve` whose stdout nobody read any more finished
 * its graceful stop on SIGTERM and then never exited, and its exit-time flush would have spun
 * on the same pipe. Here the retry timer is unref'd (an exiting process does not wait for a
 * reader that stopped reading), what waits is bounded, a closed reader (EPIPE) or any other
 * write error stops logging instead of raising, and at exit one synchronous attempt is made to
 * write what is left. Node makes a piped stdout non-blocking once `process.stdout` is used,
 * which `fdDestination(1)` does, so a write never parks a thread either.
 */
export function fdDestination(fd: number, opts: FdDestinationOptions = {}): FdDestination {
  const maxPending = opts.maxPendingBytes ?? 4 * 1024 * 1024;
  const retryMs = opts.retryMs ?? 50;
  let queue: Buffer[] = [];
  let pending = 0;
  let dropped = 0;
  let writing = false;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  // Reading process.stdout is what makes a piped fd 1 non-blocking (see above); one that Node
  // has already closed takes no lines.
  if (fd === 1 && process.stdout.destroyed) closed = true;

  const close = () => {
    closed = true;
    queue = [];
    pending = 0;
    if (retry) clearTimeout(retry);
  };
  /** Drops the first `n` bytes of the queue (written). */
  const consume = (n: number) => {
    pending -= n;
    while (n > 0 && queue.length > 0) {
      const head = queue[0] as Buffer;
      if (head.length <= n) {
        n -= head.length;
        queue.shift();
      } else {
        queue[0] = head.subarray(n);
        n = 0;
      }
    }
  };
  const next = (): Buffer => {
    if (queue.length > 1) queue = [Buffer.concat(queue)];
    const head = queue[0] as Buffer;
    return head.length > chunkBytes ? head.subarray(0, chunkBytes) : head;
  };
  const pump = () => {
    if (closed || queue.length === 0) {
      writing = false;
      return;
    }
    writing = true;
    fs.write(fd, next(), (err, n) => {
      if (closed) return;
      if (err) {
        if (err.code === 'EAGAIN') {
          // The reader is behind: try again later, without holding the process for it.
          writing = false;
          retry = setTimeout(() => {
            retry = undefined;
            pump();
          }, retryMs);
          retry.unref();
          return;
        }
        // EPIPE (the reader closed), EBADF…: nobody will read these lines.
        close();
        return;
      }
      consume(n);
      pump();
    });
  };
  process.once('exit', () => {
    // Whatever is still queued gets one synchronous try; a full or closed pipe drops it.
    try {
      while (!closed && queue.length > 0) {
        const n = fs.writeSync(fd, next());
        if (n === 0) break;
        consume(n);
      }
    } catch {
      close();
    }
  });

  return {
    write(line: string): boolean {
      const bytes = Buffer.from(line, 'utf8');
      if (closed || pending + bytes.length > maxPending) {
        dropped++;
        return true;
      }
      queue.push(bytes);
      pending += bytes.length;
      if (!writing && !retry) pump();
      return true;
    },
    get dropped() {
      return dropped;
    },
    get pending() {
      return pending;
    },
  };
}
