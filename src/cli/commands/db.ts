import fs from 'node:fs';
import path from 'node:path';
import { listTables } from '../../platform/db/catalog.ts';
import { renderSchemaDoc } from '../../platform/db/diagram.ts';
import { migrate, migrationStatus, rollback } from '../../platform/db/migrate.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, int, str, type Command } from '../command.ts';
import { withRuntime } from '../runtime.ts';

export const dbMigrateCommand: Command = {
  path: ['db', 'migrate'],
  summary: 'Apply pending migrations',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const json = values['json'] === true;
    const applied = await withRuntime(
      io,
      ({ db }) =>
        migrate(db, undefined, (m, ms) => {
          if (!json) io.stdout.write(`applied ${m.file} (${ms} ms)\n`);
        }),
      { requireMigrated: false },
    );
    emit(
      io,
      json,
      { applied: applied.map((m) => m.version) },
      applied.length ? `${applied.length} migration(s) applied` : 'schema is up to date',
    );
    return 0;
  },
};

export const dbStatusCommand: Command = {
  path: ['db', 'status'],
  summary: 'List migrations and whether each is applied',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const status = await withRuntime(io, ({ db }) => migrationStatus(db), {
      requireMigrated: false,
    });
    const lines = status.map(
      (s) =>
        `${String(s.version).padStart(4, '0')}  ${s.state.padEnd(8)} ${s.appliedAt ?? ''.padEnd(24)}  ${s.name}${s.onlineSafe ? '' : '  (not online-safe)'}`,
    );
    emit(io, values['json'] === true, { migrations: status }, lines.join('\n') || 'no migrations');
    return 0;
  },
};

const stepsBounds = { min: 1, max: 10_000 };

export const dbRollbackCommand: Command = {
  path: ['db', 'rollback'],
  summary: 'Roll back applied migrations (refuses to drop data without --force)',
  usage: '[--steps N | --all] [--force] [--json]',
  options: {
    steps: { type: 'string' },
    all: { type: 'boolean' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  numeric: { steps: stepsBounds },
  async run(values, _p, io) {
    const stepsText = str(values, 'steps');
    if (stepsText !== undefined && values['all'] === true) {
      throw new WardError('bad_request', 'Use either --steps or --all');
    }
    const steps = int(values, 'steps', stepsBounds) ?? 1;
    const done = await withRuntime(
      io,
      ({ db }) =>
        rollback(db, { steps, all: values['all'] === true, force: values['force'] === true }),
      { requireMigrated: false },
    );
    emit(
      io,
      values['json'] === true,
      { rolledBack: done.map((m) => m.version) },
      done.length ? done.map((m) => `rolled back ${m.file}`).join('\n') : 'nothing to roll back',
    );
    return 0;
  },
};

export const dbDiagramCommand: Command = {
  path: ['db', 'diagram'],
  summary: 'Write a Mermaid ER diagram of the live schema (docs/schema.md)',
  usage: '[--out FILE] [--check] [--json]',
  options: { out: { type: 'string' }, check: { type: 'boolean' }, json: { type: 'boolean' } },
  async run(values, _p, io) {
    const out = path.resolve(str(values, 'out') ?? 'docs/schema.md');
    // withRuntime refuses while migrations are pending: a diagram of a partial schema is wrong.
    const doc = await withRuntime(io, async ({ db }) =>
      renderSchemaDoc(await db.asAdmin((tx) => listTables(tx))),
    );
    if (values['check'] === true) {
      const current = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
      const fresh = current === doc;
      emit(
        io,
        values['json'] === true,
        { file: out, upToDate: fresh },
        fresh ? `${out} is up to date` : `${out} is stale: run \`ward db diagram\``,
      );
      return fresh ? 0 : 1;
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, doc);
    emit(io, values['json'] === true, { file: out }, `wrote ${out}`);
    return 0;
  },
};
