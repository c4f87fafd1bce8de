import fs from 'node:fs';
import path from 'node:path';
import { columnRegistry } from '../../modules/crypto/known-columns.ts';
import {
  checkInventory,
  renderInventory,
  spliceInventory,
} from '../../modules/crypto/inventory.ts';
import { listTables } from '../../platform/db/catalog.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
import { withRuntime } from '../runtime.ts';

export const keysInventoryCommand: Command = {
  path: ['keys', 'inventory'],
  summary:
    'Write (or --check) the encrypted-column inventory in docs/security.md against the schema',
  usage: '[--out FILE] [--check] [--json]',
  options: { out: { type: 'string' }, check: { type: 'boolean' }, json: { type: 'boolean' } },
  async run(values, _p, io) {
    const out = path.resolve(str(values, 'out') ?? 'docs/security.md');
    const tables = await withRuntime(io, ({ db }) => db.asAdmin((tx) => listTables(tx)));
    const problems = checkInventory(tables, columnRegistry);
    if (problems.length > 0) {
      throw new WardError(
        'conflict',
        `The encrypted-column registry disagrees with the schema: ${problems.join('; ')}`,
      );
    }
    const current = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    const next = spliceInventory(current, renderInventory(columnRegistry));
    const json = values['json'] === true;
    if (values['check'] === true) {
      const fresh = current === next;
      emit(
        io,
        json,
        { file: out, upToDate: fresh },
        fresh
          ? `${out} inventory is up to date`
          : `${out} inventory is stale: run \`ward keys inventory\``,
      );
      return fresh ? 0 : 1;
    }
    fs.writeFileSync(out, next);
    emit(io, json, { file: out }, `wrote the inventory to ${out}`);
    return 0;
  },
};
