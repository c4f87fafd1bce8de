import { defaultSweepGraceMs, sweepImageObjects } from '../../modules/clinical/images-sweep.ts';
import { WardError } from '../../platform/errors.ts';
import { LocalObjectStore } from '../../platform/objects/local-store.ts';
import { emit, str, type Command } from '../command.ts';
import { withRuntime } from '../runtime.ts';

/** Parses --older-than: whole minutes, at least 10 (an upload commits within seconds). */
export function parseOlderThan(v: string | undefined): number {
  if (v === undefined) return defaultSweepGraceMs;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 10 || n > 525_600)
    throw new WardError('bad_request', '--older-than must be whole minutes from 10 to 525600');
  return n * 60_000;
}

export const objectsSweepCommand: Command = {
  path: ['objects', 'sweep'],
  summary:
    'Remove image files no image row references (left by a crash mid-upload) and abandoned staged uploads',
  usage: '[--older-than MINUTES] [--dry-run] [--json]',
  options: {
    'older-than': { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const graceMs = parseOlderThan(str(values, 'older-than'));
    const dryRun = values['dry-run'] === true;
    const r = await withRuntime(io, async (rt) => {
      return sweepImageObjects(rt.db, new LocalObjectStore(rt.config.objectDir), {
        graceMs,
        dryRun,
      });
    });
    const verb = dryRun ? 'would remove' : 'removed';
    emit(
      io,
      values['json'] === true,
      r,
      `examined ${r.examined} image objects older than ${graceMs / 60_000} min; ${verb} ` +
        `${r.unreferenced} unreferenced (${r.unreferencedBytes} bytes) and ${r.staged} abandoned staged uploads`,
    );
    return 0;
  },
};
