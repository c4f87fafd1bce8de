import { SigningKeyCustody } from '../../modules/audit/signing-keys.ts';
import {
  CursorKeyCustody,
  cursorKeyAnnounceMs,
  defaultCursorKeyGraceMs,
} from '../../modules/crypto/cursor-keys.ts';
import { rotateKek } from '../../modules/crypto/kek-admin.ts';
import {
  keyStatus,
  plaintextStatus,
  retireKey,
  rotateDataKeys,
  shredOrganizationKeys,
} from '../../modules/crypto/key-admin.ts';
import { reindexBlindIndexes, type ReindexProgress } from '../../modules/crypto/reindex.ts';
import { blindIndexStatus } from '../../modules/crypto/reindex-status.ts';
import { rewrapValues, type RewrapProgress } from '../../modules/crypto/rewrap.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, int, maxInt4, str, type Command } from '../command.ts';
import { jobProgress } from '../progress.ts';
import { withRuntime, type Runtime } from '../runtime.ts';

const deps = (rt: Runtime) => ({
  db: rt.db,
  keyring: rt.crypto.keyring,
  events: rt.crypto.events,
});

/** Commands that write keys first prove the KEK matches, so they never mix in a wrong one. */
async function verified(rt: Runtime): Promise<ReturnType<typeof deps>> {
  await rt.crypto.verify(rt.db);
  return deps(rt);
}

export const keysStatusCommand: Command = {
  path: ['keys', 'status'],
  summary:
    'Show each organization key version, how many values it protects, and blind indexes left to reindex',
  usage: '[--org ID] [--json]',
  options: { org: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, _p, io) {
    const org = str(values, 'org');
    const { rows, plaintext, indexes } = await withRuntime(io, async (rt) => ({
      rows: await keyStatus(deps(rt), org),
      plaintext: await plaintextStatus(deps(rt), org),
      indexes: await blindIndexStatus(deps(rt), org),
    }));
    const lines = rows.map(
      (r) =>
        `${r.orgId}  v${String(r.version).padEnd(4)} ${r.status.padEnd(12)} ${String(r.values).padStart(10)} values  kek ${r.kekId}`,
    );
    // Values stored before their column was encrypted: "version 0", until `keys rewrap` runs.
    for (const p of plaintext)
      lines.push(
        `${p.orgId}  v0    ${'plaintext'.padEnd(12)} ${String(p.values).padStart(10)} values  (legacy: run ward keys rewrap)`,
      );
    // Blind indexes not yet in the current normalization: what `ward keys reindex` has left.
    const behind = indexes.filter((b) => b.state !== 'current');
    if (behind.length > 0) lines.push('', 'blind indexes not in the current normalization:');
    for (const b of behind)
      lines.push(
        `${b.orgId}  ${b.column.padEnd(32)} n${b.normalization} -> n${b.current}  ${b.state.padEnd(10)} ${String(b.rowsLeft).padStart(10)} rows left`,
      );
    emit(
      io,
      values['json'] === true,
      { keys: rows, plaintext, blindIndexes: indexes },
      lines.join('\n') || 'no keys yet',
    );
    return 0;
  },
};

export const keysRotateCommand: Command = {
  path: ['keys', 'rotate'],
  summary: 'Make a new data-key version primary (one organization, or all with keys)',
  usage: '[--org ID] [--json]',
  options: { org: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, _p, io) {
    const out = await withRuntime(io, async (rt) =>
      rotateDataKeys(await verified(rt), str(values, 'org')),
    );
    emit(
      io,
      values['json'] === true,
      { rotated: out },
      out.map((o) => `${o.orgId}: version ${o.version} is now primary`).join('\n') ||
        'no organization has keys yet',
    );
    return 0;
  },
};

const rewrapBounds = { batch: { min: 1, max: 100_000 }, rate: { min: 1, max: 10_000_000 } };
const versionBounds = { min: 1, max: maxInt4 };

export const keysRewrapCommand: Command = {
  path: ['keys', 'rewrap'],
  summary: 'Re-encrypt values under old key versions (online, resumable, throttleable)',
  usage: '[--org ID] [--batch N] [--rate VALUES_PER_S] [--json]',
  options: {
    org: { type: 'string' },
    batch: { type: 'string' },
    rate: { type: 'string' },
    json: { type: 'boolean' },
  },
  numeric: rewrapBounds,
  async run(values, _p, io) {
    const batchSize = int(values, 'batch', rewrapBounds.batch) ?? 1000;
    const rate = int(values, 'rate', rewrapBounds.rate);
    const json = values['json'] === true;
    const bars = json ? undefined : jobProgress(io);
    const orgId = str(values, 'org');
    const report = await withRuntime(io, async (rt) =>
      rewrapValues(await verified(rt), {
        batchSize,
        ...(orgId ? { orgId } : {}),
        ...(rate ? { maxValuesPerSecond: rate } : {}),
        ...(bars
          ? {
              onProgress: (p: RewrapProgress) => {
                bars.update(
                  `${p.orgId}/${p.version}`,
                  `${p.orgId.slice(0, 8)} v${p.version}`,
                  p.done,
                  p.total,
                );
              },
            }
          : {}),
      }),
    );
    bars?.finish();
    emit(
      io,
      json,
      report,
      report.organizations
        .map(
          (o) =>
            `${o.orgId}: ${o.rewrapped} value(s) moved to version ${o.version}${o.plaintext ? ` (${o.plaintext} of them legacy plaintext)` : ''}${o.failed ? `, ${o.failed} failed authentication (see the security log)` : ''}`,
        )
        .join('\n') || 'nothing to rewrap',
    );
    return report.organizations.some((o) => o.failed > 0) ? 1 : 0;
  },
};

const reindexBounds = { batch: { min: 1, max: 100_000 }, rate: { min: 1, max: 10_000_000 } };

export const keysReindexCommand: Command = {
  path: ['keys', 'reindex'],
  summary: 'Recompute blind indexes in the current normalization (online, resumable, throttleable)',
  usage: '[--org ID] [--batch N] [--rate ROWS_PER_S] [--json]',
  options: {
    org: { type: 'string' },
    batch: { type: 'string' },
    rate: { type: 'string' },
    json: { type: 'boolean' },
  },
  numeric: reindexBounds,
  async run(values, _p, io) {
    const batchSize = int(values, 'batch', reindexBounds.batch) ?? 500;
    const rate = int(values, 'rate', reindexBounds.rate);
    const json = values['json'] === true;
    const bars = json ? undefined : jobProgress(io);
    const orgId = str(values, 'org');
    const report = await withRuntime(io, async (rt) =>
      reindexBlindIndexes(
        { ...(await verified(rt)), codec: rt.crypto.codec },
        {
          batchSize,
          ...(orgId ? { orgId } : {}),
          ...(rate ? { maxRowsPerSecond: rate } : {}),
          ...(bars
            ? {
                onProgress: (p: ReindexProgress) => {
                  bars.update(
                    `${p.orgId}/${p.table}`,
                    `${p.orgId.slice(0, 8)} ${p.table}`,
                    p.done,
                    p.total,
                  );
                },
              }
            : {}),
        },
      ),
    );
    bars?.finish();
    const human = report.organizations.map((o) => {
      const parts = [
        `${o.orgId}: ${o.scanned} row(s) read, ${o.reindexed} index value(s) rewritten to normalization ${o.normalization}`,
      ];
      if (o.completed.length > 0) parts.push(`; current: ${o.completed.join(', ')}`);
      if (o.unindexable > 0)
        parts.push(
          `; ${o.unindexable} value(s) the current rules refuse kept their old index (correct them: ${o.unindexableRows.map((u) => `${u.column} ${u.rowId}`).join(', ')})`,
        );
      if (o.failed > 0) parts.push(`; ${o.failed} failed authentication (see the security log)`);
      return parts.join('');
    });
    emit(io, json, report, human.join('\n') || 'every blind index is in the current normalization');
    return report.organizations.some((o) => o.failed > 0) ? 1 : 0;
  },
};

export const keysRetireCommand: Command = {
  path: ['keys', 'retire'],
  summary: 'Retire a decrypt-only key version (refused while any value still uses it)',
  usage: '--org ID --version N [--json]',
  options: { org: { type: 'string' }, version: { type: 'string' }, json: { type: 'boolean' } },
  numeric: { version: versionBounds },
  async run(values, _p, io) {
    const orgId = str(values, 'org');
    const version = int(values, 'version', versionBounds);
    if (!orgId || version === undefined)
      throw new WardError('bad_request', '--org and --version are required');
    await withRuntime(io, async (rt) => retireKey(await verified(rt), orgId, version));
    emit(
      io,
      values['json'] === true,
      { orgId, version, status: 'retired' },
      `retired version ${version} of ${orgId}`,
    );
    return 0;
  },
};

export const keysShredCommand: Command = {
  path: ['keys', 'shred'],
  summary: "Destroy an organization's keys so its encrypted data can never be read (irreversible)",
  usage: '--org ID --confirm ID [--reason TEXT] [--json]',
  options: {
    org: { type: 'string' },
    confirm: { type: 'string' },
    reason: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const orgId = str(values, 'org');
    if (!orgId) throw new WardError('bad_request', '--org is required');
    // The confirmation is the organization id typed a second time, not a yes/no flag, so a
    // command line recalled from history cannot shred a different organization by accident.
    if (str(values, 'confirm') !== orgId) {
      throw new WardError(
        'bad_request',
        `Shredding makes every encrypted value of ${orgId} unreadable forever. Repeat the organization id with --confirm ${orgId} to proceed.`,
      );
    }
    const reason = str(values, 'reason') ?? 'crypto-shredding requested from the CLI';
    const versions = await withRuntime(io, (rt) => shredOrganizationKeys(deps(rt), orgId, reason));
    emit(
      io,
      values['json'] === true,
      { orgId, destroyedVersions: versions },
      `destroyed ${versions.length} key version(s) of ${orgId}; its encrypted data is now unrecoverable`,
    );
    return 0;
  },
};

export const keysRotateKekCommand: Command = {
  path: ['keys', 'rotate-kek'],
  summary:
    'Re-wrap every data key, audit signing key and cursor key under the current KEK (previous KEK in WARD_PREVIOUS_*)',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const r = await withRuntime(io, async (rt) => {
      const rewrapped = await rotateKek(rt.db, rt.crypto.keyring, rt.crypto.events);
      const signingKeys = await new SigningKeyCustody(rt.crypto.keyring).rewrap(rt.db);
      const cursorKeys = await new CursorKeyCustody(rt.crypto.keyring).rewrap(rt.db);
      return { rewrapped, signingKeys, cursorKeys };
    });
    emit(
      io,
      values['json'] === true,
      r,
      `${r.rewrapped} wrapped data key(s), ${r.signingKeys} audit signing key(s) and ${r.cursorKeys} cursor key(s) moved to the current KEK`,
    );
    return 0;
  },
};

const graceBounds = { min: 0, max: 7 * 24 * 60 };

export const keysRotateCursorCommand: Command = {
  path: ['keys', 'rotate-cursor'],
  summary:
    'Make a new pagination cursor key version current; older cursors stay valid for --grace-minutes (default 60, 0 refuses them)',
  usage: '[--grace-minutes N] [--json]',
  options: { 'grace-minutes': { type: 'string' }, json: { type: 'boolean' } },
  numeric: { 'grace-minutes': graceBounds },
  async run(values, _p, io) {
    const graceMinutes = int(values, 'grace-minutes', graceBounds);
    const graceMs = graceMinutes === undefined ? defaultCursorKeyGraceMs : graceMinutes * 60_000;
    const r = await withRuntime(io, async (rt) => {
      // Like every key-writing command, first prove the KEK opens what is stored (the data
      // keys and the cursor versions servers hold), so no version is added under a wrong one.
      await rt.crypto.verify(rt.db);
      const custody = new CursorKeyCustody(rt.crypto.keyring);
      for (const held of await custody.load(rt.db)) held.key.fill(0);
      // On PostgreSQL other servers are running: the new version is announced ahead of its
      // activation so that each has loaded it before any encodes with it. The embedded
      // database has no other process (this one holds its lock), so it takes effect at once.
      const activateAfterMs = rt.db.engine === 'pglite' ? 0 : cursorKeyAnnounceMs;
      return custody.rotate(rt.db, { activateAfterMs, graceMs });
    });
    const at = (ms: number) => new Date(ms).toISOString();
    emit(
      io,
      values['json'] === true,
      {
        version: r.version,
        activeFrom: at(r.activeFrom),
        previousAcceptedUntil: at(r.previousAcceptedUntil),
      },
      `cursor key version ${r.version} is current from ${at(r.activeFrom)}; cursors of earlier versions are refused from ${at(r.previousAcceptedUntil)}` +
        (io.env['WARD_CURSOR_KEY']?.trim()
          ? '\nnote: WARD_CURSOR_KEY is set here; servers configured with it ignore the stored cursor keys'
          : ''),
    );
    return 0;
  },
};
