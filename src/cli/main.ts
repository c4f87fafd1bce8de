import { parseArgs } from 'node:util';
import type { ErrorCode } from '../platform/errors.ts';
import { checkNumericOptions, type CliIo, type CliValues, type Command } from './command.ts';
import { describeFailure } from './failure.ts';
import {
  dbDiagramCommand,
  dbMigrateCommand,
  dbRollbackCommand,
  dbStatusCommand,
} from './commands/db.ts';
import {
  auditCheckpointCommand,
  auditRetentionCommand,
  auditSealCommand,
  auditVerifyCommand,
} from './commands/audit.ts';
import { auditExportCommand } from './commands/audit-export.ts';
import {
  auditKeysImportCommand,
  auditKeysListCommand,
  auditKeysRotateCommand,
} from './commands/audit-keys.ts';
import { demoCommand, demoTotpCommand } from './commands/demo.ts';
import { keysInventoryCommand } from './commands/keys-inventory.ts';
import {
  keysReindexCommand,
  keysRetireCommand,
  keysRewrapCommand,
  keysRotateCommand,
  keysRotateCursorCommand,
  keysRotateKekCommand,
  keysShredCommand,
  keysStatusCommand,
} from './commands/keys.ts';
import { orgCreateCommand, orgUpdateCommand } from './commands/org.ts';
import {
  reportAccessCommand,
  reportBreakGlassCommand,
  reportDisclosuresCommand,
  reportUserActivityCommand,
} from './commands/report.ts';
import { serveCommand } from './commands/serve.ts';
import { seedCommand } from './commands/seed.ts';
import { icd10ImportCommand } from './commands/icd10.ts';
import { objectsSweepCommand } from './commands/objects.ts';
import { userCreateCommand } from './commands/user.ts';

/** Every command, in the order --help lists them. */
export const commands: readonly Command[] = [
  serveCommand,
  demoCommand,
  demoTotpCommand,
  dbMigrateCommand,
  dbStatusCommand,
  dbRollbackCommand,
  dbDiagramCommand,
  orgCreateCommand,
  orgUpdateCommand,
  userCreateCommand,
  seedCommand,
  icd10ImportCommand,
  objectsSweepCommand,
  keysStatusCommand,
  keysRotateCommand,
  keysRewrapCommand,
  keysReindexCommand,
  keysRetireCommand,
  keysShredCommand,
  keysRotateKekCommand,
  keysRotateCursorCommand,
  keysInventoryCommand,
  auditSealCommand,
  auditVerifyCommand,
  auditExportCommand,
  auditCheckpointCommand,
  auditRetentionCommand,
  auditKeysListCommand,
  auditKeysRotateCommand,
  auditKeysImportCommand,
  reportAccessCommand,
  reportDisclosuresCommand,
  reportBreakGlassCommand,
  reportUserActivityCommand,
];

function helpText(): string {
  const rows = commands.map((c) => `  ward ${c.path.join(' ')} ${c.usage}\n      ${c.summary}`);
  return [
    'Ward — HIPAA-grade health-data platform',
    '',
    'Usage:',
    ...rows,
    '',
    'Every command takes --json for machine-readable output.',
    'DATABASE_URL selects PostgreSQL; otherwise the embedded database under WARD_DATA_DIR (.ward/) is used.',
  ].join('\n');
}

const defaultIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
};

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code:
 * 0 success, 1 failure, 2 usage error.
 */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout.write(`${helpText()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const command = [...commands]
    .sort((a, b) => b.path.length - a.path.length)
    .find((c) => c.path.every((w, i) => argv[i] === w));
  if (!command) {
    const words = argv.slice(0, 2).filter((w) => !w.startsWith('-'));
    const message = `unknown command "${words.join(' ')}". See ward --help.`;
    if (argv.includes('--json')) writeJsonError(io, 'bad_request', message);
    io.stderr.write(`ward: ${message} [bad_request]\n`);
    return 2;
  }
  const rest = argv.slice(command.path.length);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`ward ${command.path.join(' ')} ${command.usage}\n  ${command.summary}\n`);
    return 0;
  }
  const name = `ward ${command.path.join(' ')}`;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: command.options,
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : 'invalid arguments';
    if (rest.includes('--json')) writeJsonError(io, 'bad_request', message);
    io.stderr.write(`usage: ${name} ${command.usage}\n`);
    io.stderr.write(`${name}: ${oneLine(message)} [bad_request]\n`);
    return 2;
  }
  const json = parsed.values['json'] === true;
  try {
    const values = parsed.values as CliValues;
    checkNumericOptions(command, values);
    return await command.run(values, parsed.positionals, io);
  } catch (e) {
    const f = describeFailure(e, io.env);
    if (json) writeJsonError(io, f.code, f.message);
    io.stderr.write(`ward: ${f.message} [${f.code}]\n`);
    // Opt-in only: a stack can quote data, so it is never printed unasked.
    if (io.env['WARD_DEBUG'] === '1' && e instanceof Error) io.stderr.write(`${e.stack ?? ''}\n`);
    return f.exitCode;
  }
}

/** The JSON error object a --json caller reads from stdout. */
function writeJsonError(io: CliIo, code: ErrorCode, message: string): void {
  io.stdout.write(`${JSON.stringify({ error: { code, message: oneLine(message) } })}\n`);
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
