import readline from 'node:readline';
import { Writable } from 'node:stream';
import { WardError } from '../platform/errors.ts';
import type { CliIo } from './command.ts';

/** Reads all of stdin and strips one trailing newline (for `--password-stdin`). */
export async function readStdin(io: CliIo, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > limit) throw new WardError('bad_request', 'Standard input is too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * Asks for a secret on the terminal without echoing it, twice, and requires both to match.
 * Passwords are never accepted as arguments: argv is visible to every local user.
 */
export async function promptSecret(io: CliIo, label: string): Promise<string> {
  if (!io.stdin.isTTY) {
    throw new WardError(
      'bad_request',
      'No terminal to prompt on: pass the password with --password-stdin',
    );
  }
  const first = await askHidden(io, `${label}: `);
  const second = await askHidden(io, `Repeat ${label.toLowerCase()}: `);
  if (first !== second) throw new WardError('bad_request', 'The two entries differ');
  return first;
}

function askHidden(io: CliIo, question: string): Promise<string> {
  io.stderr.write(question);
  const muted = new Writable({
    write: (_c, _e, cb) => {
      cb();
    },
  });
  const rl = readline.createInterface({ input: io.stdin, output: muted, terminal: true });
  return new Promise((resolve) => {
    rl.question('', (answer) => {
      rl.close();
      io.stderr.write('\n');
      resolve(answer);
    });
  });
}
