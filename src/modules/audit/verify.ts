import type { Database } from '../../platform/db/index.ts';
import { chainOrganizations } from './checkpoints-repo.ts';
import type { ExportedCheckpoint } from './checkpoint-format.ts';
import type { TrustedKey } from './signer.ts';
import type { DistrustedKey } from './signing-keys.ts';
import { anchorFrom, anchorKey, verifyChain, type ChainReport } from './verify-chain.ts';

/** Options for `verifyAuditLog`. */
export interface VerifyOptions {
  /** Verify only this organization's chain (the platform chain is the all-zero id). */
  readonly orgId?: string | undefined;
  /**
   * Public keys whose signatures are accepted: --public-key files and stored keys the KEK
   * vouched for (signing-keys.ts). An anchor's own public key is added when its id matches.
   */
  readonly trustedKeys: readonly TrustedKey[];
  /** Stored keys the KEK did not vouch for: altered ones fail verification outright. */
  readonly distrustedKeys?: readonly DistrustedKey[];
  /** A checkpoint kept outside the database; its chain must still contain it unchanged. */
  readonly anchor?: ExportedCheckpoint | undefined;
  /** Called with the number of events verified so far, for progress output. */
  readonly onProgress?: (eventsVerified: number) => void;
}

/** The result of a verification run. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly chains: readonly ChainReport[];
  readonly events: number;
  readonly checkpoints: number;
  /** Stored signing keys that failed the KEK's check (altered rows). */
  readonly keyFailures: readonly DistrustedKey[];
  readonly durationMs: number;
}

/**
 * Verifies every organization's chain (or one), each in its own short system transaction so
 * a long verification does not hold back the sealer's horizon for the others.
 */
export async function verifyAuditLog(db: Database, opts: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const fromAnchor = opts.anchor ? anchorKey(opts.anchor) : undefined;
  const trustedKeys = fromAnchor ? [...opts.trustedKeys, fromAnchor] : opts.trustedKeys;
  const anchor = opts.anchor ? anchorFrom(opts.anchor, trustedKeys) : undefined;
  const keyFailures = (opts.distrustedKeys ?? []).filter((k) => k.altered);
  const distrustedKeys = new Map((opts.distrustedKeys ?? []).map((k) => [k.keyId, k.detail]));
  const job = {
    name: 'audit.verify',
    reason: 'recomputes hashes, signatures and chains over every organization',
  };
  const { orgs, archived } = await db.asSystem(job, async (tx) => ({
    orgs: opts.orgId ? [opts.orgId] : await chainOrganizations(tx),
    // A month is archived only when its partition is really gone: an export row alone never
    // downgrades a live month to chain-and-signature checks.
    archived: new Set(
      (
        await tx.query<{ month: string }>(
          `select to_char(range_from at time zone 'UTC', 'YYYY-MM') as month
             from audit.partition_exports
            where dropped_at is not null and to_regclass('audit.' || partition_name) is null`,
        )
      ).rows.map((r) => r.month),
    ),
  }));
  if (anchor && !orgs.includes(anchor.orgId)) orgs.push(anchor.orgId);
  let done = 0;
  const chains: ChainReport[] = [];
  for (const orgId of orgs) {
    const report = await db.asSystem({ ...job, orgId }, (tx) =>
      verifyChain(tx, {
        orgId,
        trustedKeys,
        distrustedKeys,
        archivedMonths: archived,
        ...(anchor?.orgId === orgId ? { anchor } : {}),
        onEvents: (n) => {
          done += n;
          opts.onProgress?.(done);
        },
      }),
    );
    chains.push(report);
  }
  return {
    ok: keyFailures.length === 0 && chains.every((c) => !c.failure),
    chains,
    events: chains.reduce((n, c) => n + c.events, 0),
    checkpoints: chains.reduce((n, c) => n + c.checkpoints, 0),
    keyFailures,
    durationMs: Math.round(performance.now() - started),
  };
}
