import fs from 'node:fs';
import { importIcd10Release, icd10VersionPattern } from '../../modules/clinical/icd10/import.ts';
import { detectFormat, parseIcd10File } from '../../modules/clinical/icd10/parse.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
import { createProgress } from '../progress.ts';
import { withRuntime } from '../runtime.ts';

/** UTF-8 when the bytes are valid UTF-8 (ASCII, as CMS ships it, always is), else Latin-1. */
function decode(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

export const icd10ImportCommand: Command = {
  path: ['icd10', 'import'],
  summary:
    'Import a full ICD-10-CM release (CMS icd10cm_order_YYYY.txt or icd10cm_codes_YYYY.txt) as reference data',
  usage: '--file F --version V [--dry-run] [--json]',
  options: {
    file: { type: 'string' },
    version: { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const file = str(values, 'file');
    const version = str(values, 'version');
    if (!file || !version) throw new WardError('bad_request', '--file and --version are required');
    if (!icd10VersionPattern.test(version))
      throw new WardError(
        'bad_request',
        '--version must be 1 to 32 letters, digits, dots, dashes or underscores (e.g. 2026)',
      );
    let text: string;
    try {
      text = decode(fs.readFileSync(file));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      throw new WardError(
        'not_found',
        `Cannot read ${file}${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
    const format = detectFormat(text);
    const entries = parseIcd10File(text, format);
    const dryRun = values['dry-run'] === true;
    const result = await withRuntime(io, async ({ db }) => {
      const progress = createProgress(io, `importing ICD-10-CM ${version}`, entries.length);
      try {
        return await importIcd10Release(db, version, entries, {
          dryRun,
          onProgress: (n) => {
            progress.update(n);
          },
        });
      } finally {
        progress.finish();
      }
    });
    emit(
      io,
      values['json'] === true,
      { ...result, format },
      `${dryRun ? 'dry run, nothing written: would import' : 'imported'} ICD-10-CM ${version} from a CMS ${format} file: ` +
        `${result.total} codes (${result.billable} billable, ${result.headers} headers); ` +
        `${result.inserted} new, ${result.updated} changed, ${result.unchanged} unchanged`,
    );
    return 0;
  },
};
