import { startServer } from '../../api/server.ts';
import { base32Decode, totpCode } from '../../modules/auth/totp.ts';
import { readDemoCredentials, demoCredentialsPath } from '../../modules/demo/credentials-file.ts';
import { ensureDemo, type DemoInfo } from '../../modules/demo/demo-service.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { WardError } from '../../platform/errors.ts';
import { demoBanner } from '../demo-text.ts';
import { emit, type Command } from '../command.ts';
import { listenOptions, portBounds, stopOnSignals } from './serve.ts';

export const demoCommand: Command = {
  path: ['demo'],
  summary:
    'Start Ward with a synthetic demo dataset (two organizations, a user of every role, patients) and print the logins',
  usage: '[--port P] [--host H] [--json]',
  options: { port: { type: 'string' }, host: { type: 'string' }, json: { type: 'boolean' } },
  numeric: { port: portBounds },
  async run(values, _positionals, io) {
    const config = loadConfig(io.env);
    const json = values['json'] === true;
    let demo: DemoInfo | undefined;
    const server = await startServer(config, {
      ...listenOptions(values, io),
      env: io.env,
      // With --json, stdout carries the one banner object; the server's log lines go to stderr.
      ...(json ? { logger: createLogger(config.logLevel, io.stderr) } : {}),
      prepare: async (rt) => {
        demo = await ensureDemo(rt.db, rt.crypto.codec, { dataDir: config.dataDir });
      },
    });
    if (!demo) throw new WardError('internal', 'the demo data was not prepared');
    // Listening for SIGTERM before the banner: whoever waits for the banner may stop us at once.
    const stopped = stopOnSignals(server);
    const where = `${server.db.engine}${server.db.engine === 'pglite' ? `, data in ${config.dataDir}` : ''}`;
    emit(
      io,
      json,
      {
        address: server.address,
        engine: server.db.engine,
        dataDir: server.db.engine === 'pglite' ? config.dataDir : null,
        demoOnly: true,
        created: demo.created,
        credentialsFile: demo.credentialsFile,
        organizations: { provider: demo.providerOrgId, payer: demo.payerOrgId },
        logins: demo.logins,
        adminTotpSecret: demo.adminTotpSecret,
        patients: demo.patients,
        sampleMrn: demo.sampleMrn,
      },
      demoBanner(demo, server.address, where),
    );
    await stopped;
    return 0;
  },
};

export const demoTotpCommand: Command = {
  path: ['demo', 'totp'],
  summary: "Print the demo admin's current TOTP code (read from the demo credentials file)",
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  run(values, _positionals, io) {
    const config = loadConfig(io.env);
    const saved = readDemoCredentials(config.dataDir);
    if (!saved)
      throw new WardError(
        'not_found',
        `No demo credentials at ${demoCredentialsPath(config.dataDir)}; start the demo with \`ward demo\` first`,
      );
    const code = totpCode(base32Decode(saved.adminTotpSecret));
    emit(io, values['json'] === true, { code }, code);
    return Promise.resolve(0);
  },
};
