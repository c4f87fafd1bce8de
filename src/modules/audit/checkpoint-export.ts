import type { Database } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { checkpointPayload, type ExportedCheckpoint } from './checkpoint-format.ts';
import { lastCheckpoint } from './checkpoints-repo.ts';
import type { TrustedKey } from './signer.ts';

/**
 * The newest signed checkpoint of an organization's chain, in the format kept outside the
 * database (so a later `verify --checkpoint` can prove the chain was not truncated).
 */
export async function exportLatestCheckpoint(
  db: Database,
  orgId: string,
  publicKey?: TrustedKey,
): Promise<ExportedCheckpoint> {
  const c = await db.asSystem(
    { name: 'audit.checkpoint-export', reason: 'exports a signed checkpoint for anchoring', orgId },
    (tx) => lastCheckpoint(tx, orgId),
  );
  if (!c) throw new WardError('not_found', 'This organization has no sealed checkpoint yet');
  return {
    format: 'ward.audit.checkpoint.v1',
    payload: checkpointPayload(c).toString('utf8'),
    signature: c.signature.toString('base64'),
    keyId: c.keyId,
    ...(publicKey && publicKey.keyId === c.keyId
      ? { publicKey: publicKey.publicKey.toString('base64') }
      : {}),
  };
}
