import type { Queryable } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { checkpointPayload } from './checkpoint-format.ts';
import { checkpointCovering, checkpointLeaves } from './checkpoints-repo.ts';
import { eventRowColumns, leafBytes, leafHash, type EventRow } from './leaf.ts';
import { inclusionPath, merkleRoot } from './merkle.ts';

/**
 * An RFC 6962 inclusion proof of one event in a signed checkpoint. With only this document
 * and the signer's public key an external tool can check that the event is in the log:
 * SHA-256(0x00 || leaf) folded with auditPath (RFC 9162 2.1.3.2) must give the payload's
 * root, and the signature must verify over the payload (docs/audit.md).
 */
export interface InclusionProof {
  readonly format: 'ward.audit.inclusion-proof.v1';
  readonly eventId: number;
  /** The canonical leaf bytes of the event, base64. */
  readonly leaf: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** Sibling hashes from the leaf up to the root, hex. */
  readonly auditPath: string[];
  readonly checkpoint: {
    readonly payload: string;
    readonly signature: string;
    readonly keyId: string;
  };
}

/** Builds the inclusion proof of an event visible to the transaction's context. */
export async function inclusionProof(q: Queryable, eventId: number): Promise<InclusionProof> {
  const r = await q.query<EventRow>(
    `select ${eventRowColumns} from audit.events e where e.id = $1`,
    [eventId],
  );
  const event = r.rows[0];
  if (!event) throw new WardError('not_found');
  const c = await checkpointCovering(q, event.organization_id, event.tx_id, event.month);
  if (!c) throw new WardError('audit_not_sealed');
  const leaves = await checkpointLeaves(q, event.organization_id, c.seq);
  const index = leaves.eventIds.indexOf(event.id);
  const leaf = leafBytes(event);
  const stored = leaves.leafHashes[index];
  if (
    index < 0 ||
    !stored ||
    !stored.equals(leafHash(leaf)) ||
    !merkleRoot(leaves.leafHashes).equals(c.root)
  ) {
    throw new WardError('audit_integrity_failed', 'The event does not match its sealed record', {
      eventId,
      seq: c.seq,
    });
  }
  return {
    format: 'ward.audit.inclusion-proof.v1',
    eventId,
    leaf: leaf.toString('base64'),
    leafIndex: index,
    treeSize: leaves.leafHashes.length,
    auditPath: inclusionPath(leaves.leafHashes, index).map((h) => h.toString('hex')),
    checkpoint: {
      payload: checkpointPayload(c).toString('utf8'),
      signature: c.signature.toString('base64'),
      keyId: c.keyId,
    },
  };
}
