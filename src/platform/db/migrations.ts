import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WardError } from '../errors.ts';

/** One numbered migration with its rollback script. */
export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  /** Path relative to the repository, used in messages. */
  readonly file: string;
  readonly up: string;
  readonly down: string;
  /** SHA-256 of the up script with line endings normalized. */
  readonly checksum: string;
  readonly onlineSafe: boolean;
  readonly purpose: string;
}

/** The migrations shipped with Ward. */
export const defaultMigrationsDir = fileURLToPath(
  new URL('../../../db/migrations/', import.meta.url),
);

const filePattern = /^(\d{4})-([a-z0-9-]+)\.sql$/;

/**
 * Reads and validates the migration directory: numbering without gaps or duplicates, a
 * matching `.down.sql` for each file, and the header every migration must carry.
 */
export function loadMigrations(dir: string = defaultMigrationsDir): MigrationFile[] {
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.sql') && !n.endsWith('.down.sql'));
  const out: MigrationFile[] = [];
  for (const n of names.sort()) {
    const m = filePattern.exec(n);
    if (!m)
      throw new WardError('migration_failed', `Migration file name is not NNNN-name.sql: ${n}`);
    const version = Number(m[1]);
    const name = m[2] ?? '';
    const rel = path.join('db/migrations', n);
    const up = normalize(fs.readFileSync(path.join(dir, n), 'utf8'));
    const downPath = path.join(dir, `${m[1] ?? ''}-${name}.down.sql`);
    if (!fs.existsSync(downPath)) {
      throw new WardError(
        'migration_failed',
        `Migration ${rel} has no rollback script ${path.basename(downPath)}`,
      );
    }
    const down = normalize(fs.readFileSync(downPath, 'utf8'));
    const header = parseHeader(up, rel);
    parseHeader(down, path.join('db/migrations', path.basename(downPath)));
    const prev = out.at(-1);
    if (prev && version !== prev.version + 1) {
      throw new WardError(
        'migration_failed',
        `Migration numbering has a gap or duplicate at ${rel}`,
      );
    }
    if (!prev && version !== 1)
      throw new WardError('migration_failed', `The first migration must be 0001, found ${rel}`);
    out.push({
      version,
      name,
      file: rel,
      up,
      down,
      checksum: createHash('sha256').update(up).digest('hex'),
      ...header,
    });
  }
  return out;
}

/** A digest of the whole migration set, used to name migrated template databases. */
export function migrationSetDigest(migrations: readonly MigrationFile[]): string {
  const h = createHash('sha256');
  for (const m of migrations) h.update(`${m.version}:${m.checksum}:`).update(m.down);
  return h.digest('hex');
}

function normalize(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

function parseHeader(text: string, rel: string): { onlineSafe: boolean; purpose: string } {
  const head = text.split('\n').slice(0, 12).join('\n');
  const purpose = /^-- Purpose: (.+)$/m.exec(head)?.[1];
  const online = /^-- Online-safe: (yes|no)\b/m.exec(head)?.[1];
  if (!purpose || !online) {
    throw new WardError(
      'migration_failed',
      `Migration ${rel} needs a header with "-- Purpose: …" and "-- Online-safe: yes|no"`,
    );
  }
  return { purpose, onlineSafe: online === 'yes' };
}
