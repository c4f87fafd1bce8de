import fs from 'node:fs';
import { readImportSeed } from '../../modules/audit/signing-key.ts';
import { SigningKeyCustody, type VouchedKeys } from '../../modules/audit/signing-keys.ts';
import { listSigningKeys } from '../../modules/audit/signing-keys-repo.ts';
import type { TrustedKey } from '../../modules/audit/signer.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import { emit, type CliIo, type Command } from '../command.ts';
import { withRuntime, type Runtime } from '../runtime.ts';

/** The key custody of a runtime (needs the KEK). */
export function custodyOf(rt: Runtime): SigningKeyCustody {
  return new SigningKeyCustody(rt.crypto.keyring);
}

/** Reads a public key document written by `ward audit checkpoint export --public-key`. */
export function readPublicKeyFile(file: string): TrustedKey {
  let doc: { keyId?: unknown; publicKey?: unknown };
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof doc;
  } catch {
    throw new WardError('validation_failed', `${file} cannot be read as JSON`);
  }
  if (typeof doc.keyId !== 'string' || typeof doc.publicKey !== 'string') {
    throw new WardError('validation_failed', `${file} is not a Ward audit public key document`);
  }
  return { keyId: doc.keyId, publicKey: Buffer.from(doc.publicKey, 'base64') };
}

/**
 * The stored keys the KEK vouches for. Without a usable KEK, verification can still run on
 * keys given outside the database (--public-key, the exported checkpoint's key): then the
 * stored keys are skipped with a warning; with nothing else to trust, the KEK error stands.
 */
export async function vouchedKeysForCli(
  rt: Runtime,
  io: CliIo,
  haveOtherKeys: boolean,
): Promise<VouchedKeys> {
  try {
    const custody = custodyOf(rt);
    const v = await rt.db.asSystem(
      { name: 'audit.verify', reason: 'checks the stored signing keys against the KEK' },
      (tx) => custody.vouchedKeys(tx),
    );
    const unchecked = v.distrusted.filter((d) => !d.altered);
    if (unchecked.length > 0) {
      io.stderr.write(
        `warning: ${unchecked.length} stored signing key(s) are not trusted without their KEK (${unchecked[0]?.detail ?? ''})\n`,
      );
    }
    return v;
  } catch (e) {
    if (!haveOtherKeys || !isWardError(e, 'kek_unavailable')) throw e;
    io.stderr.write(
      `warning: stored signing keys are not trusted without the KEK (${e.message}); verifying with the given keys only\n`,
    );
    return { trusted: [], distrusted: [], external: [] };
  }
}

export const auditKeysListCommand: Command = {
  path: ['audit', 'keys', 'list'],
  summary:
    'List audit signing keys (public halves, status, KEK) and check each against the KEK (exit 1 if a row was altered)',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const r = await withRuntime(io, async (rt) => {
      const rows = await rt.db.asSystem(
        { name: 'audit.signing-keys', reason: 'lists the audit signing keys' },
        (tx) => listSigningKeys(tx),
      );
      const vouched = await vouchedKeysForCli(rt, io, true);
      const bad = new Map(vouched.distrusted.map((d) => [d.keyId, d.detail]));
      const altered = vouched.distrusted.some((d) => d.altered);
      const keys = rows.map((k) => ({
        keyId: k.keyId,
        status: k.status,
        algorithm: 'ed25519',
        publicKey: k.publicKey.toString('base64'),
        kekId: k.kekId,
        createdAt: k.createdAt,
        retiredAt: k.retiredAt,
        check:
          k.status === 'external'
            ? 'external'
            : vouched.trusted.some((t) => t.keyId === k.keyId)
              ? 'ok'
              : (bad.get(k.keyId) ?? 'not checked (no KEK)'),
      }));
      return { keys, altered };
    });
    emit(
      io,
      values['json'] === true,
      { keys: r.keys },
      r.keys.length === 0
        ? 'no audit signing key yet (one is created on first seal)'
        : r.keys
            .map((k) => `${k.status.padEnd(8)} ${k.keyId} ${k.createdAt} ${k.check}`)
            .join('\n'),
    );
    // A row the KEK opened and found altered is tampering; a key it cannot open is not.
    return r.altered ? 1 : 0;
  },
};

export const auditKeysRotateCommand: Command = {
  path: ['audit', 'keys', 'rotate'],
  summary:
    'Retire the active audit signing key and create a new one (old checkpoints still verify)',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const r = await withRuntime(io, (rt) => custodyOf(rt).rotate(rt.db));
    emit(
      io,
      values['json'] === true,
      r,
      `new audit signing key ${r.active} is active${r.retired ? `; ${r.retired} is retired` : ''}`,
    );
    return 0;
  },
};

export const auditKeysImportCommand: Command = {
  path: ['audit', 'keys', 'import'],
  summary: 'Import the seed in WARD_AUDIT_SIGNING_KEY as the active key, wrapped by the KEK',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run(values, _p, io) {
    const seed = readImportSeed(io.env);
    try {
      const r = await withRuntime(io, (rt) => custodyOf(rt).importSeed(rt.db, seed));
      emit(
        io,
        values['json'] === true,
        r,
        `imported audit signing key ${r.keyId} (now active${r.retired ? `; ${r.retired} retired` : ''}); remove WARD_AUDIT_SIGNING_KEY from the environment`,
      );
    } finally {
      seed.fill(0);
    }
    return 0;
  },
};
