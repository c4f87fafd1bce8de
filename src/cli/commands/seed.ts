import { randomBytes } from 'node:crypto';
import {
  maxSeedCount,
  seedSyntheticPatients,
} from '../../modules/clinical/synthetic/seed-service.ts';
import { ensureDemo } from '../../modules/demo/demo-service.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
import { createProgress } from '../progress.ts';
import { withRuntime } from '../runtime.ts';

/** Parses --scale: a whole number of patients, 1 to the maximum. */
export function parseScale(v: string | undefined): number {
  if (v === undefined) throw new WardError('bad_request', '--scale N is required');
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > maxSeedCount)
    throw new WardError('bad_request', `--scale must be a whole number from 1 to ${maxSeedCount}`);
  return n;
}

export const seedCommand: Command = {
  path: ['seed'],
  summary:
    'Generate N synthetic patients (with cases, diagnoses, plans) deterministically from a seed',
  usage: '--scale N [--seed S] [--org ID] [--batch N] [--resume] [--json]',
  options: {
    scale: { type: 'string' },
    seed: { type: 'string' },
    org: { type: 'string' },
    batch: { type: 'string' },
    resume: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  numeric: { scale: { min: 1, max: maxSeedCount }, batch: { min: 1, max: 5000 } },
  async run(values, _p, io) {
    const count = parseScale(str(values, 'scale'));
    const given = str(values, 'seed');
    if (values['resume'] === true && given === undefined)
      throw new WardError('bad_request', '--resume needs the --seed of the run it continues');
    const seed = given ?? randomBytes(6).toString('hex');
    if (!/^[\x21-\x7e]{1,100}$/.test(seed))
      throw new WardError(
        'bad_request',
        '--seed must be 1 to 100 printable characters without spaces',
      );
    const org = str(values, 'org');
    if (org !== undefined && !isUuid(org))
      throw new WardError('bad_request', '--org must be an organization id (UUID)');
    const batchText = str(values, 'batch') ?? '250';
    const batchSize = /^\d+$/.test(batchText) ? Number(batchText) : Number.NaN;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000)
      throw new WardError('bad_request', '--batch must be a whole number from 1 to 5000');
    const result = await withRuntime(io, async (rt) => {
      const codec = rt.crypto.codec;
      // Without --org the patients join the demo's provider (created first if needed), so the
      // demo logins can browse them.
      const orgId =
        org ?? (await ensureDemo(rt.db, codec, { dataDir: rt.config.dataDir })).providerOrgId;
      // A generated seed is said before the first batch, so a run that is stopped can be resumed.
      if (given === undefined)
        io.stderr.write(`seed "${seed}" (continue a stopped run with --seed ${seed} --resume)\n`);
      const progress = createProgress(io, 'seeding patients', count);
      try {
        return {
          orgId,
          ...(await seedSyntheticPatients(rt.db, codec, {
            orgId,
            count,
            seed,
            batchSize,
            resume: values['resume'] === true,
            onProgress: (n) => {
              progress.update(n);
            },
          })),
        };
      } finally {
        progress.finish();
      }
    });
    const rows =
      result.patients + result.cases + result.diagnoses + result.plans + result.prescriptions;
    const seconds = Math.max(result.elapsedMs / 1000, 0.001);
    const rowsPerSecond = Math.round(rows / seconds);
    emit(
      io,
      values['json'] === true,
      { seed, ...result, rows, rowsPerSecond, seconds: Math.round(seconds * 100) / 100 },
      [
        `seeded organization ${result.orgId} from seed "${seed}" (MRNs ${result.mrnPrefix}-…): ` +
          `${result.patients} patients, ${result.cases} cases, ${result.diagnoses} diagnoses, ` +
          `${result.plans} plans, ${result.prescriptions} prescriptions`,
        `${rows} rows in ${seconds.toFixed(2)} s (${rowsPerSecond} rows/s, ${result.batches} batches). All data is synthetic.`,
        ...(result.resumedFrom > 0
          ? [
              `Resumed a run that had ${result.resumedFrom} patients; the counts above are what this run added.`,
            ]
          : []),
        ...(org === undefined
          ? ['These patients belong to the demo clinic; `ward demo` prints its logins.']
          : []),
      ].join('\n'),
    );
    return 0;
  },
};
