import { startServer, type RunningServer } from '../../api/server.ts';
import { loadConfig } from '../../platform/config.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type CliIo, type Command, type CliValues } from '../command.ts';

/** The range of --port (0 picks a free port). */
export const portBounds = { min: 0, max: 65_535 };

/** Parses --port/--host with their environment defaults. */
export function listenOptions(values: CliValues, io: CliIo): { host: string; port: number } {
  const text = str(values, 'port') ?? io.env['WARD_PORT'] ?? '8080';
  const port = /^\d{1,5}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isInteger(port) || port < portBounds.min || port > portBounds.max) {
    throw new WardError(
      'bad_request',
      `${str(values, 'port') === undefined ? 'WARD_PORT' : '--port'} must be a whole number from 0 to 65535`,
    );
  }
  // Loopback by default: exposing PHI services on every interface must be a decision.
  const host = str(values, 'host') ?? io.env['WARD_HOST'] ?? '127.0.0.1';
  return { host, port };
}

/** Resolves when SIGTERM or SIGINT arrives, after a graceful stop. */
export function stopOnSignals(server: RunningServer): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      server.logger.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      server.stop().then(resolve, (e: unknown) => {
        server.logger.error({ err: e }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export const serveCommand: Command = {
  path: ['serve'],
  summary: 'Start the HTTP API and background jobs',
  usage: '[--port P] [--host H] [--json]',
  options: { port: { type: 'string' }, host: { type: 'string' }, json: { type: 'boolean' } },
  numeric: { port: portBounds },
  async run(values, _positionals, io) {
    const config = loadConfig(io.env);
    const sealMs = Number(io.env['WARD_AUDIT_SEAL_INTERVAL_MS'] ?? '10000');
    if (!Number.isInteger(sealMs) || sealMs < 100) {
      throw new WardError(
        'bad_request',
        'WARD_AUDIT_SEAL_INTERVAL_MS must be an integer of at least 100',
      );
    }
    const server = await startServer(config, {
      ...listenOptions(values, io),
      sealIntervalMs: sealMs,
      env: io.env,
    });
    // Listening for SIGTERM before the banner: a supervisor that waits for the banner may send
    // it at once, and without a handler it would kill the process with nothing closed.
    const stopped = stopOnSignals(server);
    emit(
      io,
      values['json'] === true,
      { address: server.address, engine: server.db.engine },
      `Ward listening on ${server.address} (${server.db.engine})`,
    );
    await stopped;
    return 0;
  },
};
