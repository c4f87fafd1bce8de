import type { Database } from '../../platform/db/index.ts';
import { WardError, isWardError } from '../../platform/errors.ts';
import type { Keyring } from './keyring.ts';
import type { KeyPurpose } from './kek/provider.ts';
import type { SecurityEvents } from './security-events.ts';

interface WrappedRow {
  table: 'encryption_keys' | 'blind_index_keys';
  organization_id: string;
  version: number;
  wrapped_key: Buffer;
  kek_id: string;
}

const selectWrapped = `
  select 'encryption_keys' as table, organization_id, version, wrapped_key, kek_id
    from ward.encryption_keys where wrapped_key is not null
  union all
  select 'blind_index_keys', organization_id, version, wrapped_key, kek_id
    from ward.blind_index_keys where wrapped_key is not null`;

const purposeOf = (t: WrappedRow['table']): KeyPurpose =>
  t === 'encryption_keys' ? 'data' : 'index';

/**
 * Checks at startup that the configured KEK can unwrap the stored keys: one key per KEK id
 * is unwrapped. A missing or wrong KEK makes the process refuse to start with a message that
 * names the KEK ids involved, instead of serving errors (or worse) later.
 */
export async function verifyKek(db: Database, keyring: Keyring): Promise<void> {
  const rows = await db.asSystem(
    { name: 'crypto.verify-kek', reason: 'checks the KEK against wrapped keys of all tenants' },
    async (tx) =>
      (
        await tx.query<WrappedRow>(
          `select distinct on (kek_id) * from (${selectWrapped}) w order by kek_id, organization_id`,
        )
      ).rows,
  );
  for (const r of rows) {
    try {
      const key = await keyring.unwrap(r.wrapped_key, r.kek_id, {
        orgId: r.organization_id,
        purpose: purposeOf(r.table),
        version: r.version,
      });
      key.fill(0);
    } catch (e) {
      if (!isWardError(e, 'kek_unavailable')) throw e;
      throw new WardError(
        'kek_unavailable',
        `The configured key-encryption key cannot unwrap the stored keys: ${e.message}`,
        {},
        { cause: e },
      );
    }
  }
}

/**
 * KEK rotation: re-wraps every data key and index root that is wrapped under a previous KEK
 * with the current one. Field values are untouched; each key row is swapped only if it still
 * holds what was read (compare-and-swap), so concurrent runs are safe. A process still
 * configured with the old KEK as current (a server not yet restarted) may wrap a new key under
 * it meanwhile, so the listing is repeated until a pass finds nothing; a key still left under
 * a previous KEK after that is refused (`conflict`) rather than reported as done. The event
 * names the KEKs the keys were moved away from, so the audit trail shows which KEK was retired.
 * @returns how many wrapped keys were re-wrapped
 */
export async function rotateKek(
  db: Database,
  keyring: Keyring,
  events: SecurityEvents,
): Promise<number> {
  const current = keyring.kek.current;
  const listOld = () =>
    db.asSystem(
      { name: 'crypto.rotate-kek', reason: 'lists keys wrapped under an old KEK' },
      async (tx) =>
        (
          await tx.query<WrappedRow>(`select * from (${selectWrapped}) w where kek_id <> $1`, [
            current.id,
          ])
        ).rows,
    );
  let n = 0;
  const from = new Set<string>();
  let rows = await listOld();
  for (let pass = 0; pass < maxRotationPasses && rows.length > 0; pass++) {
    for (const r of rows) {
      const ctx = { orgId: r.organization_id, purpose: purposeOf(r.table), version: r.version };
      const key = await keyring.unwrap(r.wrapped_key, r.kek_id, ctx);
      try {
        const wrapped = await current.wrap(key, ctx);
        const table =
          r.table === 'encryption_keys' ? 'ward.encryption_keys' : 'ward.blind_index_keys';
        const u = await db.asSystem(
          {
            name: 'crypto.rotate-kek',
            reason: 're-wraps a key under the new KEK',
            orgId: r.organization_id,
          },
          (tx) =>
            tx.query(
              `update ${table} set wrapped_key = $4, kek_id = $5
                where organization_id = $1 and version = $2 and wrapped_key = $3`,
              [r.organization_id, r.version, r.wrapped_key, wrapped, current.id],
            ),
        );
        n += u.rowCount;
        if (u.rowCount > 0) from.add(r.kek_id);
      } finally {
        key.fill(0);
      }
    }
    rows = await listOld();
  }
  await events.emit({
    type: 'crypto.kek_rotated',
    kekId: current.id,
    previousKekIds: [...from].sort(),
    rewrapped: n,
  });
  if (rows.length > 0) {
    throw new WardError(
      'conflict',
      `${rows.length} wrapped key(s) are still under a previous KEK, written meanwhile by a process ` +
        'configured with it: restart every process with the new KEK, then run `ward keys rotate-kek` again',
      { remaining: rows.length },
    );
  }
  return n;
}

// A new key appears under the old KEK only while some process still runs with it as current;
// a few passes cover a rotation racing one such write, not a server that was never restarted.
const maxRotationPasses = 3;
