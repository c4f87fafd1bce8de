import { hash } from 'node:crypto';

/** A signed checkpoint of one batch in one organization's chain. */
export interface Checkpoint {
  readonly orgId: string;
  readonly seq: number;
  /** The calendar month (UTC) of every event in the batch, `YYYY-MM`. */
  readonly month: string;
  /** The batch holds the organization's events with txFrom <= tx_id < txTo (decimal xid8). */
  readonly txFrom: string;
  readonly txTo: string;
  readonly size: number;
  readonly firstId: number;
  readonly lastId: number;
  readonly root: Buffer;
  /** Hash of the previous checkpoint's payload; 32 zero bytes for seq 1. */
  readonly prevHash: Buffer;
  /** ISO 8601 with milliseconds, UTC. */
  readonly sealedAt: string;
  readonly keyId: string;
}

/** The previous-hash of the first checkpoint of a chain. */
export const genesisHash = Buffer.alloc(32);

/**
 * The exact bytes that are hashed and signed: UTF-8 JSON with keys in this fixed order and no
 * whitespace (docs/audit.md). Anyone holding a checkpoint can rebuild and check them.
 */
export function checkpointPayload(c: Checkpoint): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      type: 'ward.audit.checkpoint',
      org: c.orgId,
      seq: c.seq,
      month: c.month,
      txFrom: c.txFrom,
      txTo: c.txTo,
      size: c.size,
      firstId: c.firstId,
      lastId: c.lastId,
      root: c.root.toString('hex'),
      prev: c.prevHash.toString('hex'),
      sealedAt: c.sealedAt,
      keyId: c.keyId,
    }),
    'utf8',
  );
}

/** SHA-256 of the payload; the next checkpoint's `prev`. */
export function checkpointHash(payload: Buffer): Buffer {
  return hash('sha256', payload, 'buffer');
}

/** A checkpoint as exported for external anchoring (`ward audit checkpoint export`). */
export interface ExportedCheckpoint {
  readonly format: 'ward.audit.checkpoint.v1';
  /** The signed payload, verbatim. */
  readonly payload: string;
  /** Ed25519 signature over the payload's UTF-8 bytes, base64. */
  readonly signature: string;
  readonly keyId: string;
  /** Raw Ed25519 public key, base64 (convenience; trust it only if you know the key id). */
  readonly publicKey?: string;
}
