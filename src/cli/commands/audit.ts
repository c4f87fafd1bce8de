import fs from 'node:fs';
import { exportLatestCheckpoint } from '../../modules/audit/checkpoint-export.ts';
import type { ExportedCheckpoint } from '../../modules/audit/checkpoint-format.ts';
import { ensurePartitions } from '../../modules/audit/partitions.ts';
import { applyRetention } from '../../modules/audit/retention.ts';
import { seal } from '../../modules/audit/sealer.ts';
import { verifyAuditLog } from '../../modules/audit/verify.ts';
import { platformOrgId } from '../../modules/audit/vocabulary.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { emit, int, str, type Command } from '../command.ts';
import { createProgress } from '../progress.ts';
import { withRuntime } from '../runtime.ts';
import { leftoverImportKeyWarning } from '../../modules/audit/signing-key.ts';
import { anchorKey } from '../../modules/audit/verify-chain.ts';
import { custodyOf, readPublicKeyFile, vouchedKeysForCli } from './audit-keys.ts';

export const auditSealCommand: Command = {
  path: ['audit', 'seal'],
  summary: 'Seal committed audit events into signed Merkle checkpoints (and keep partitions ahead)',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    if (io.env['WARD_AUDIT_SIGNING_KEY']) io.stderr.write(`warning: ${leftoverImportKeyWarning}\n`);
    const r = await withRuntime(io, async (rt) => {
      const partitions = await ensurePartitions(rt.db);
      return { ...(await seal(rt.db, custodyOf(rt))), partitionsCreated: partitions };
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
    const givenKeys = files.map(readPublicKeyFile);
    const file = str(values, 'checkpoint');
    const anchor = file ? readExportedCheckpoint(file) : undefined;
    const progress = createProgress(io, 'verifying', 0);
    const report = await withRuntime(io, async (rt) => {
      const vouched = await vouchedKeysForCli(
        rt,
        io,
        givenKeys.length > 0 || (anchor !== undefined && anchorKey(anchor) !== undefined),
      );
      return verifyAuditLog(rt.db, {
        orgId,
        trustedKeys: [...givenKeys, ...vouched.trusted],
        distrustedKeys: vouched.distrusted,
        anchor,
        onProgress: (n) => {
          progress.update(n);
        },
      });
    });
    progress.finish();
    const lines = report.keyFailures.map((k) => `FAIL key ${k.keyId}: ${k.detail}`);
    lines.push(
      ...report.chains.map((c) =>
        c.failure
          ? `FAIL ${c.orgId}: ${c.failure.kind} at checkpoint ${c.failure.seq ?? '-'}${c.failure.eventId !== undefined ? `, event ${c.failure.eventId}` : ''}: ${c.failure.detail}`
          : `ok   ${c.orgId}: ${c.checkpoints} checkpoint(s), ${c.events} event(s)${c.archivedCheckpoints ? `, ${c.archivedCheckpoints} archived` : ''}, ${c.unsealed} unsealed`,
      ),
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
    const orgId = str(values, 'org') ?? platformOrgId;
    if (!isUuid(orgId)) throw new WardError('bad_request', '--org must be a UUID');
    const doc = await withRuntime(io, async (rt): Promise<unknown> => {
      if (values['public-key'] === true) {
        // The active key, unwrapped and checked against its stored public key first.
        const signer = await custodyOf(rt).activeSigner(rt.db);
        return {
          format: 'ward.audit.public-key.v1',
          algorithm: 'ed25519',
          keyId: signer.keyId,
          publicKey: signer.publicKey.toString('base64'),
        };
      }
      const vouched = await vouchedKeysForCli(rt, io, true);
      return exportLatestCheckpoint(rt.db, orgId, vouched.trusted);
    });
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

/** Reads a checkpoint written by `ward audit checkpoint export`. */
function readExportedCheckpoint(file: string): ExportedCheckpoint {
  let doc: Partial<ExportedCheckpoint>;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ExportedCheckpoint>;
  } catch {
    throw new WardError('validation_failed', `${file} cannot be read as JSON`);
  }
  if (
    doc.format !== 'ward.audit.checkpoint.v1' ||
    typeof doc.payload !== 'string' ||
    typeof doc.signature !== 'string' ||
    typeof doc.keyId !== 'string'
  ) {
    throw new WardError('validation_failed', `${file} is not an exported Ward audit checkpoint`);
  }
  return doc as ExportedCheckpoint;
}

const yearsBounds = { min: 1, max: 100 };

export const auditRetentionCommand: Command = {
  path: ['audit', 'retention'],
  summary: 'Export, then detach and drop audit partitions past retention (default 6 years)',
  usage: '[--years N] [--out DIR] [--apply [--export-only]] [--json]',
  options: {
    years: { type: 'string' },
    out: { type: 'string' },
    apply: { type: 'boolean' },
    'export-only': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  // At least 6 is the retention module's rule (HIPAA); it says so itself.
  numeric: { years: yearsBounds },
  async run(values, _p, io) {
    const years = int(values, 'years', yearsBounds) ?? 6;
    const apply = values['apply'] === true;
    const r = await withRuntime(io, ({ db }) =>
      applyRetention(db, {
        years,
        apply,
        exportOnly: values['export-only'] === true,
        outDir: str(values, 'out') ?? 'audit-archive',
        onStaleRemoved: (files) => {
          io.stderr.write(
            `removed ${files.length} partial file(s) an interrupted retention run left behind\n`,
          );
        },
      }),
    );
    const lines = r.map((p) =>
      p.dropped
        ? `exported ${p.rows} row(s) of ${p.name} to ${p.file ?? ''} (sha256 ${p.sha256 ?? ''}) and dropped it`
        : p.file
          ? `exported ${p.rows} row(s) of ${p.name} to ${p.file} (sha256 ${p.sha256 ?? ''}); kept until a run without --export-only`
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
