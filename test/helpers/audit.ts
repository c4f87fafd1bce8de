import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../../src/platform/db/index.ts';
import { seal } from '../../src/modules/audit/sealer.ts';
import type { CheckpointSigner, SignerSource } from '../../src/modules/audit/signer.ts';

/**
 * Seals until every event of `orgIds` committed before the call is in a checkpoint. The seal
 * horizon is cluster-wide (transaction ids are), so on a shared server another test file's
 * open transaction can hold it back for a moment; this retries instead of flaking.
 */
export async function sealUntilCovered(
  db: Database,
  signer: CheckpointSigner | SignerSource,
  orgIds: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const target = await db.asAdmin((tx) =>
    tx.query<{ id: number }>(
      'select coalesce(max(id), 0) as id from audit.events where organization_id = any($1::uuid[])',
      [orgIds],
    ),
  );
  const maxId = target.rows[0]?.id ?? 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await seal(db, signer);
    const r = await db.asAdmin((tx) =>
      tx.query<{ n: number }>(
        `select count(*)::int as n from audit.events e
          where e.organization_id = any($1::uuid[]) and e.id <= $2
            and e.tx_id >= coalesce((select max(c.tx_to) from audit.checkpoints c
                                      where c.organization_id = e.organization_id), '0'::xid8)`,
        [orgIds, maxId],
      ),
    );
    if (r.rows[0]?.n === 0) return;
    if (Date.now() > deadline)
      throw new Error('events stayed unsealed: a transaction held the horizon');
    await sleep(50);
  }
}
