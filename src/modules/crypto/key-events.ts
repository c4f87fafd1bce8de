// The one raw connection outside src/platform/db: a LISTEN needs a session of its own, and
// this connection runs no query on data (only LISTEN and a heartbeat `select 1`), so it cannot
// bypass request context or RLS, which is what the restriction protects.
// eslint-disable-next-line no-restricted-imports
import pg from 'pg';
import { isUuid, type Tx } from '../../platform/db/index.ts';
import type { Logger } from '../../platform/log.ts';
import type { Keyring } from './keyring.ts';

/**
 * Key events between processes. `ward keys shred` and `ward keys retire` usually run in a CLI
 * process while `ward serve` (one or several replicas) holds the organization's keys unwrapped
 * in its keyring cache. On PostgreSQL the shredding (or retiring) transaction sends a
 * notification on this channel; PostgreSQL delivers it when, and only if, the transaction
 * commits. Every server keeps one dedicated connection listening on it and forgets the
 * organization's cached keys, so the next request reads the key rows again and gets
 * `key_destroyed`.
 *
 * A notification can be lost while the listener's connection is down. The keyring's TTL (60 s)
 * is then the upper bound on how long a cached key outlives a shred, and on reconnecting the
 * listener drops every cached key, because it cannot know what it missed.
 *
 * The embedded engine (PGlite) needs none of this: the server holds its data directory
 * exclusively, so no CLI process can shred or retire while it runs, and the CLI's own keyring
 * is cleared by `shredOrganizationKeys` itself.
 */
export const keyEventsChannel = 'ward_key_events';

/** What happened to an organization's keys. */
export type KeyEventKind = 'shredded' | 'retired';

/** The notification's payload (JSON): identifiers only, never key material or PHI. */
export interface KeyEvent {
  readonly orgId: string;
  readonly kind: KeyEventKind;
}

/**
 * Sends the key event in the caller's transaction (delivered at commit; dropped on rollback).
 * Nothing on the embedded engine: see the module comment.
 */
export async function notifyKeyEvent(tx: Tx, event: KeyEvent): Promise<void> {
  if (tx.engine !== 'postgres') return;
  await tx.query('select pg_notify($1, $2)', [
    keyEventsChannel,
    JSON.stringify({ orgId: event.orgId, kind: event.kind }),
  ]);
}

/** Where the listener connects and what it tells. */
export interface KeyEventListenerOptions {
  /** The server's PostgreSQL connection string (a session, not a transaction-pooled one). */
  readonly connectionString: string;
  readonly keyring: Pick<Keyring, 'forget' | 'clear'>;
  readonly logger: Logger;
  /** First reconnection delay (default 250 ms), doubled per failed attempt up to `maxBackoffMs`. */
  readonly minBackoffMs?: number;
  /** Longest reconnection delay (default 15 s). */
  readonly maxBackoffMs?: number;
  /** How often the idle connection is checked with `select 1` (default 15 s). */
  readonly heartbeatMs?: number;
}

/** A running listener. */
export interface KeyEventListener {
  /** Whether the LISTEN is in place right now. */
  readonly listening: boolean;
  /** The backend process id of the listening connection (for tests and diagnostics). */
  readonly backendPid: number | undefined;
  /** Resolves once the listener is (again) listening, or rejects after `timeoutMs`. */
  whenListening(timeoutMs?: number): Promise<void>;
  /** Closes the connection and stops reconnecting; never keeps the process alive. */
  stop(): Promise<void>;
}

type ListenerClient = pg.Client & { processID?: number };

/**
 * Starts listening for key events on a dedicated connection (outside the pool: a LISTEN
 * belongs to one session). The connection is reconnected with exponential backoff (with
 * jitter) whenever it fails or a heartbeat does not come back; every (re)connection, including
 * the first, drops all cached keys after the LISTEN is in place, so no event can fall between
 * the two. Connecting happens in the background: the server does not wait for it.
 */
export function startKeyEventListener(opts: KeyEventListenerOptions): KeyEventListener {
  const { keyring, logger } = opts;
  const minBackoff = opts.minBackoffMs ?? 250;
  const maxBackoff = opts.maxBackoffMs ?? 15_000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  let stopped = false;
  let client: ListenerClient | undefined;
  let listening = false;
  let failures = 0;
  let downSince: number | undefined;
  let everListened = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let waiters: (() => void)[] = [];

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== keyEventsChannel) return;
    let orgId: unknown;
    try {
      orgId = (JSON.parse(msg.payload ?? '') as { orgId?: unknown }).orgId;
    } catch {
      orgId = undefined;
    }
    if (typeof orgId === 'string' && isUuid(orgId)) {
      keyring.forget(orgId);
    } else {
      // Not ours, or malformed: dropping everything is always safe.
      keyring.clear();
      logger.warn({ channel: keyEventsChannel }, 'malformed key event; dropped all cached keys');
    }
  };

  const lost = (c: ListenerClient, err: unknown) => {
    if (c !== client) return; // an old connection reporting late
    client = undefined;
    const wasListening = listening;
    listening = false;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    c.removeAllListeners('notification');
    void c.end().catch(() => undefined);
    if (stopped) return;
    if (wasListening) {
      downSince = Date.now();
      logger.warn(
        { channel: keyEventsChannel, reason: describe(err) },
        'key event listener lost its connection; reconnecting (cached keys expire within the 60 s TTL meanwhile)',
      );
    }
    failures++;
    scheduleRetry();
  };

  /** The next connection attempt, after a backoff that grows with the failures in a row. */
  function scheduleRetry(): void {
    if (stopped) return;
    const delay = Math.min(maxBackoff, minBackoff * 2 ** Math.min(failures - 1, 16));
    retryTimer = setTimeout(connect, delay * (0.5 + Math.random() * 0.5));
    retryTimer.unref();
  }

  function connect(): void {
    retryTimer = undefined;
    if (stopped) return;
    let c: ListenerClient;
    try {
      // The constructor reads certificate files named in the connection string: one missing
      // for a moment must mean "retry later", never an uncaught exception in a timer.
      c = new pg.Client({
        connectionString: opts.connectionString,
        application_name: 'ward-key-events',
        keepAlive: true,
        connectionTimeoutMillis: 10_000,
        query_timeout: 10_000,
      });
    } catch (e) {
      failures++;
      downSince ??= Date.now();
      logger.warn(
        { channel: keyEventsChannel, reason: describe(e) },
        'key event listener could not be set up; retrying',
      );
      scheduleRetry();
      return;
    }
    client = c;
    // Errors and ends of an idle connection arrive as events; both mean "reconnect".
    c.on('error', (e) => {
      lost(c, e);
    });
    c.on('end', () => {
      lost(c, new Error('connection ended'));
    });
    c.on('notification', onNotification);
    void (async () => {
      await c.connect();
      // The socket must not keep a stopping process alive (shutdown closes it anyway).
      (
        c as unknown as { connection?: { stream?: { unref?: () => void } } }
      ).connection?.stream?.unref?.();
      await c.query(`listen ${keyEventsChannel}`);
      // Stopped, or replaced, meanwhile (`stop` clears `client`).
      if (c !== client) {
        await closeBounded(c);
        return;
      }
      // Anything shredded before this point (while down, or before the first LISTEN) was
      // missed: forget every cached key; they are unwrapped again from the database on use.
      keyring.clear();
      listening = true;
      if (everListened) {
        logger.info(
          {
            channel: keyEventsChannel,
            attempts: failures,
            downMs: downSince === undefined ? undefined : Date.now() - downSince,
          },
          'key event listener reconnected; dropped all cached keys',
        );
      }
      everListened = true;
      failures = 0;
      downSince = undefined;
      heartbeat = setInterval(() => {
        c.query('select 1').catch((e: unknown) => {
          lost(c, e);
        });
      }, heartbeatMs);
      heartbeat.unref();
      const ready = waiters;
      waiters = [];
      for (const w of ready) w();
    })().catch((e: unknown) => {
      if (!everListened && failures === 0) {
        logger.warn(
          { channel: keyEventsChannel, reason: describe(e) },
          'key event listener could not connect; retrying',
        );
      }
      lost(c, e);
    });
  }

  connect();

  return {
    get listening() {
      return listening;
    },
    get backendPid() {
      return listening ? client?.processID : undefined;
    },
    whenListening(timeoutMs = 10_000) {
      if (listening) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          reject(new Error(`the key event listener is not listening after ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref();
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push(done);
      });
    },
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (heartbeat) clearInterval(heartbeat);
      retryTimer = undefined;
      heartbeat = undefined;
      listening = false;
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners('notification');
        await closeBounded(c);
      }
    },
  };
}

/** Ends the connection politely, or destroys its socket when the server does not answer. */
async function closeBounded(c: ListenerClient, ms = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, ms);
    timer.unref();
  });
  const r = await Promise.race([
    c.end().then(
      () => 'ended' as const,
      () => 'ended' as const,
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (r === 'timeout') {
    (
      c as unknown as { connection?: { stream?: { destroy?: () => void } } }
    ).connection?.stream?.destroy?.();
  }
}

/** An error's code and message (database errors carry no PHI; no query parameters are kept). */
function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
