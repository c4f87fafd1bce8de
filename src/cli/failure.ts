import path from 'node:path';
import { isWardError, pgCode, translateDbError, type ErrorCode } from '../platform/errors.ts';

/** What the CLI prints for a failed command: a stable code, one line of text, an exit code. */
export interface CliFailure {
  readonly code: ErrorCode;
  readonly message: string;
  readonly exitCode: number;
}

/** Said for every command that meets a schema without Ward's tables. */
export const notMigratedMessage = 'the database is not migrated; run `ward db migrate`';

/**
 * Variables that name where a secret is kept. Their value is never echoed: an operator who
 * pasted the secret itself (a key, a PIN) into one would otherwise see it printed.
 */
const secretPathVariables = new Set([
  'WARD_PKCS11_PIN_FILE',
  'WARD_KEK_FILE',
  'WARD_PREVIOUS_KEK_FILE',
]);

/** Environment variables that name a file or directory Ward reads (or creates). */
const pathVariables = [
  'WARD_PKCS11_PIN_FILE',
  'WARD_PKCS11_MODULE',
  'WARD_KEK_FILE',
  'WARD_PREVIOUS_KEK_FILE',
  'WARD_DATA_DIR',
  'WARD_OBJECT_DIR',
];

const connectionErrnos = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const pathErrnos: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'the name is too long',
};

const pathErrnoCodes: Record<string, ErrorCode> = {
  ENOENT: 'not_found',
  ENOTDIR: 'not_found',
  EACCES: 'forbidden',
  EPERM: 'forbidden',
  EROFS: 'forbidden',
};

/**
 * Turns whatever a command threw into what the CLI shows. WardErrors keep their code and
 * message; database, filesystem and network failures become stable codes with a message that
 * names the host, database, path or variable at fault. Nothing here quotes a driver message
 * (it can carry row values) or a password, and no stack trace is ever part of the result.
 */
export function describeFailure(e: unknown, env: NodeJS.ProcessEnv): CliFailure {
  if (isWardError(e)) return fail(e.code, e.message);
  const errno = stringProp(e, 'code');
  const sqlState = pgCode(e);
  const syscall = stringProp(e, 'syscall');

  if (sqlState === '42P01' || sqlState === '3F000')
    return fail('config_invalid', notMigratedMessage);
  if (sqlState === '3D000' || sqlState === '28000' || sqlState === '28P01') {
    const why =
      sqlState === '3D000'
        ? 'the database does not exist'
        : 'the login was refused (check the user and password)';
    return fail('database_unavailable', `cannot use ${databaseTarget(env)}: ${why} (${sqlState})`);
  }
  if (sqlState === '57P03' || sqlState === '53300' || sqlState?.startsWith('08')) {
    return fail(
      'database_unavailable',
      `cannot use ${databaseTarget(env)}: the server does not accept connections now (${sqlState})`,
    );
  }

  if (errno === 'EADDRINUSE' || (syscall === 'listen' && errno !== undefined)) {
    const where = listenTarget(e);
    const why =
      errno === 'EADDRINUSE'
        ? 'the address is already in use; choose another --port'
        : errno === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : errno === 'EADDRNOTAVAIL'
            ? 'no interface has that address; check --host'
            : 'the address cannot be used';
    return fail('conflict', `cannot listen on ${where}: ${why} (${errno})`);
  }

  if (errno !== undefined && connectionErrnos.has(errno) && isDatabaseAddress(e, env)) {
    return fail(
      'database_unavailable',
      `cannot reach the database ${databaseTarget(env)} (${errno})`,
    );
  }

  const file = stringProp(e, 'path');
  if (errno !== undefined && file !== undefined && errno in pathErrnos) {
    const why =
      errno === 'EEXIST' && syscall === 'mkdir'
        ? 'it exists and is not a directory'
        : (pathErrnos[errno] ?? 'it cannot be used');
    const variable = pathVariables.find((v) => samePath(env[v], file));
    if (variable && secretPathVariables.has(variable))
      return fail('config_invalid', `${variable} does not name a readable file: ${why} (${errno})`);
    if (variable) return fail('config_invalid', `${variable} names ${file}: ${why} (${errno})`);
    // A path the command line named that the filesystem refuses: not a usage error (exit 1).
    const verb = syscall === 'mkdir' ? 'create the directory' : syscall === 'open' ? 'open' : 'use';
    return {
      ...fail(pathErrnoCodes[errno] ?? 'bad_request', `cannot ${verb} ${file}: ${why} (${errno})`),
      exitCode: 1,
    };
  }

  if (errno !== undefined && connectionErrnos.has(errno)) {
    return fail('internal', `a network connection failed (${errno}); set WARD_DEBUG=1 for details`);
  }

  if (sqlState !== undefined) {
    const t = translateDbError(e);
    switch (t.code) {
      case 'validation_failed':
        return fail(
          'validation_failed',
          `a value is out of range or malformed for the database (${sqlState})`,
        );
      case 'not_found':
        return fail(
          'not_found',
          sqlState === '23503'
            ? 'a referenced resource does not exist (check --org and the other ids given)'
            : `the resource does not exist or is not visible (${sqlState})`,
        );
      case 'internal':
        break;
      default:
        return fail(t.code, `${t.message} (${sqlState})`);
    }
  }

  // Unexpected failures name their class and code only: driver messages can quote data.
  const name = e instanceof Error ? e.name : typeof e;
  const code = errno ?? sqlState;
  return fail(
    'internal',
    `unexpected error: ${name}${code !== undefined ? ` (${code})` : ''}; set WARD_DEBUG=1 for details`,
  );
}

function fail(code: ErrorCode, message: string): CliFailure {
  // 2 is a usage error (the command line itself is wrong); every other failure is 1.
  return { code, message: oneLine(message), exitCode: code === 'bad_request' ? 2 : 1 };
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function stringProp(e: unknown, key: string): string | undefined {
  if (typeof e !== 'object' || e === null || !(key in e)) return undefined;
  const v: unknown = (e as Record<string, unknown>)[key];
  return typeof v === 'string'
    ? v
    : typeof v === 'number' && key === 'port'
      ? String(v)
      : undefined;
}

function samePath(a: string | undefined, b: string): boolean {
  return a !== undefined && a.trim() !== '' && path.resolve(a.trim()) === path.resolve(b);
}

interface DbUrl {
  host: string;
  port: string;
  database: string;
}

function parseDatabaseUrl(env: NodeJS.ProcessEnv): DbUrl | undefined {
  const raw = env['DATABASE_URL']?.trim();
  if (!raw) return undefined;
  try {
    const u = new URL(raw);
    const hostParam = u.searchParams.get('host');
    return {
      host: decodeURIComponent(u.hostname) || hostParam || 'localhost',
      port: u.port || '5432',
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default)',
    };
  } catch {
    return undefined;
  }
}

/** `host:port/database` of DATABASE_URL — never its user or password. */
function databaseTarget(env: NodeJS.ProcessEnv): string {
  const u = parseDatabaseUrl(env);
  if (!u) return env['DATABASE_URL'] ? 'DATABASE_URL (unparsable)' : 'the embedded database';
  return `${u.host}:${u.port}/${u.database}`;
}

/** True when a connection error is about DATABASE_URL's server (or names no address). */
function isDatabaseAddress(e: unknown, env: NodeJS.ProcessEnv): boolean {
  const u = parseDatabaseUrl(env);
  if (!u) return false;
  const host = stringProp(e, 'hostname');
  if (host !== undefined) return host === u.host;
  const port = stringProp(e, 'port');
  return port === undefined || port === u.port;
}

function listenTarget(e: unknown): string {
  const address = stringProp(e, 'address');
  const port = stringProp(e, 'port');
  if (address !== undefined && port !== undefined)
    return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return 'the requested address';
}
