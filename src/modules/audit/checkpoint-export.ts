import type { Database } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { checkpointPayload, type ExportedCheckpoint } from './checkpoint-format.ts';
import { lastCheckpoint } from './checkpoints-repo.ts';
import type { TrustedKey } from './signer.ts';

/**
 * The newest signed checkpoint of an organization's chain, in the format kept outside the
 * database (so a later `verify --checkpoint` can prove the chain was not truncated). The
 * public key is included when `keys` (keys the KEK vouched for) holds the one that signed it.
 */
export async function exportLatestCheckpoint(
  db: Database,
  orgId: string,
  keys: readonly TrustedKey[] = [],
): Promise<ExportedCheckpoint> {
  const c = await db.asSystem(
    { name: 'audit.checkpoint-export', reason: 'exports a signed checkpoint for anchoring', orgId },
    (tx) => lastCheckpoint(tx, orgId),
  );
  if (!c) throw new WardError('not_found', 'This organization has no sealed checkpoint yet');
  const publicKey = keys.find((k) => k.keyId === c.keyId);
  return {
    format: 'ward.audit.checkpoint.v1',
    payload: checkpointPayload(c).toString('utf8'),
    signature: c.signature.toString('base64'),
    keyId: c.keyId,
    ...(publicKey ? { publicKey: publicKey.publicKey.toString('base64') } : {}),
  };
}
