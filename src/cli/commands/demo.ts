import { startServer } from '../../api/server.ts';
import { loadConfig } from '../../platform/config.ts';
import { emit, type Command } from '../command.ts';
import { listenOptions, stopOnSignals } from './serve.ts';

export const demoCommand: Command = {
  path: ['demo'],
  summary: 'Start Ward on the embedded database, migrated and ready to explore',
  usage: '[--port P] [--host H] [--json]',
  options: { port: { type: 'string' }, host: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, _positionals, io) {
    const config = loadConfig(io.env);
    const server = await startServer(config, { ...listenOptions(values, io), env: io.env });
    const info = {
      address: server.address,
      engine: server.db.engine,
      dataDir: server.db.engine === 'pglite' ? config.dataDir : null,
      demoData: 'none yet: demo data arrives with the clinical domain',
    };
    emit(
      io,
      values['json'] === true,
      info,
      [
        `Ward demo listening on ${server.address} (${server.db.engine}${info.dataDir ? `, data in ${info.dataDir}` : ''})`,
        `  health:    ${server.address}/healthz`,
        `  readiness: ${server.address}/readyz`,
        'Nothing to demo yet: synthetic patients and logins arrive with the clinical domain.',
        'Press Ctrl-C to stop.',
      ].join('\n'),
    );
    await stopOnSignals(server);
    return 0;
  },
};
