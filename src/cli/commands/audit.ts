import fs from 'node:fs';
import { exportLatestCheckpoint } from '../../modules/audit/checkpoint-export.ts';
import type { ExportedCheckpoint } from '../../modules/audit/checkpoint-format.ts';
import { ensurePartitions } from '../../modules/audit/partitions.ts';
import { applyRetention } from '../../modules/audit/retention.ts';
import { seal } from '../../modules/audit/sealer.ts';
import { verifyAuditLog } from '../../modules/audit/verify.ts';
import { platformOrgId } from '../../modules/audit/vocabulary.ts';
import { loadConfig } from '../../platform/config.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, str, type Command } from '../command.ts';
import { createProgress } from '../progress.ts';
import { withRuntime } from '../runtime.ts';
import { signerForCli, trustedKeysForCli } from './audit-keys.ts';

export const auditSealCommand: Command = {
  path: ['audit', 'seal'],
  summary: 'Seal committed audit events into signed Merkle checkpoints (and keep partitions ahead)',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const { signer } = signerForCli(loadConfig(io.env), io);
    const r = await withRuntime(io, async ({ db }) => {
      const partitions = await ensurePartitions(db);
      return { ...(await seal(db, signer)), partitionsCreated: partitions };
    });
    emit(
      io,
      values['json'] === true,
      r,
      `sealed ${r.events} event(s) into ${r.checkpoints} checkpoint(s) across ${r.organizations} chain(s)`,
    );
    return 0;
  },
};

export const auditVerifyCommand: Command = {
  path: ['audit', 'verify'],
  summary: 'Recompute every chain, batch and signature; exit 1 on any tampering',
  usage: '[--org ID] [--checkpoint FILE] [--public-key FILE]... [--json]',
  options: {
    org: { type: 'string' },
    checkpoint: { type: 'string' },
    'public-key': { type: 'string', multiple: true },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const orgId = str(values, 'org');
    if (orgId !== undefined && !isUuid(orgId))
      throw new WardError('bad_request', '--org must be a UUID');
    const files = (values['public-key'] as unknown as string[] | undefined) ?? [];
    const trustedKeys = trustedKeysForCli(loadConfig(io.env), io, files);
    const file = str(values, 'checkpoint');
    const anchor = file
      ? (JSON.parse(fs.readFileSync(file, 'utf8')) as ExportedCheckpoint)
      : undefined;
    const progress = createProgress(io, 'verifying', 0);
    const report = await withRuntime(io, ({ db }) =>
      verifyAuditLog(db, {
        orgId,
        trustedKeys,
        anchor,
        onProgress: (n) => {
          progress.update(n);
        },
      }),
    );
    progress.finish();
    const lines = report.chains.map((c) =>
      c.failure
        ? `FAIL ${c.orgId}: ${c.failure.kind} at checkpoint ${c.failure.seq ?? '-'}${c.failure.eventId !== undefined ? `, event ${c.failure.eventId}` : ''}: ${c.failure.detail}`
        : `ok   ${c.orgId}: ${c.checkpoints} checkpoint(s), ${c.events} event(s)${c.archivedCheckpoints ? `, ${c.archivedCheckpoints} archived` : ''}, ${c.unsealed} unsealed`,
    );
    lines.push(
      report.ok
        ? `verified ${report.events} event(s) in ${report.durationMs} ms`
        : 'VERIFICATION FAILED',
    );
    emit(io, values['json'] === true, report, lines.join('\n'));
    return report.ok ? 0 : 1;
  },
};

export const auditCheckpointCommand: Command = {
  path: ['audit', 'checkpoint', 'export'],
  summary: 'Write the newest signed checkpoint (or the public key) for external anchoring',
  usage: '[--org ID] [--out FILE] [--public-key] [--json]',
  options: {
    org: { type: 'string' },
    out: { type: 'string' },
    'public-key': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const { signer } = signerForCli(loadConfig(io.env), io);
    const key = { keyId: signer.keyId, publicKey: signer.publicKey };
    let doc: unknown;
    if (values['public-key'] === true) {
      doc = {
        format: 'ward.audit.public-key.v1',
        algorithm: 'ed25519',
        keyId: key.keyId,
        publicKey: key.publicKey.toString('base64'),
      };
    } else {
      const orgId = str(values, 'org') ?? platformOrgId;
      if (!isUuid(orgId)) throw new WardError('bad_request', '--org must be a UUID');
      doc = await withRuntime(io, ({ db }) => exportLatestCheckpoint(db, orgId, key));
    }
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const out = str(values, 'out');
    if (out) {
      fs.writeFileSync(out, text, { mode: 0o644 });
      emit(io, values['json'] === true, { file: out }, `wrote ${out}`);
    } else {
      io.stdout.write(text);
    }
    return 0;
  },
};

export const auditRetentionCommand: Command = {
  path: ['audit', 'retention'],
  summary: 'Export, then detach and drop audit partitions past retention (default 6 years)',
  usage: '[--years N] [--out DIR] [--apply] [--json]',
  options: {
    years: { type: 'string' },
    out: { type: 'string' },
    apply: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values, _p, io) {
    const years = Number(str(values, 'years') ?? '6');
    const apply = values['apply'] === true;
    const r = await withRuntime(io, ({ db }) =>
      applyRetention(db, { years, apply, outDir: str(values, 'out') ?? 'audit-archive' }),
    );
    const lines = r.map((p) =>
      p.dropped
        ? `exported ${p.rows} row(s) of ${p.name} to ${p.file ?? ''} (sha256 ${p.sha256 ?? ''}) and dropped it`
        : `would export and drop ${p.name}`,
    );
    emit(
      io,
      values['json'] === true,
      { partitions: r, applied: apply },
      lines.join('\n') || 'no partition is past the retention period',
    );
    return 0;
  },
};
