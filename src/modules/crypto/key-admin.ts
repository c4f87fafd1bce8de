import { randomBytes } from 'node:crypto';
import type { Database } from '../../platform/db/index.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { keyBytes } from './aead.ts';
import { countLegacyValues, eraseLegacyValues } from './legacy-plaintext.ts';
import { notifyKeyEvent } from './key-events.ts';
import type { Keyring } from './keyring.ts';
import type { KeyStatus } from './keys-repo.ts';
import { columnRegistry, type ColumnRegistry } from './registry.ts';
import type { SecurityEvents } from './security-events.ts';
import { countValuesByVersion } from './value-counts.ts';

/** One key version as `ward keys status` shows it. */
export interface KeyVersionStatus {
  readonly orgId: string;
  readonly version: number;
  readonly status: KeyStatus;
  readonly kekId: string;
  /** Encrypted values (over every registered column) whose header names this version. */
  readonly values: number;
  readonly createdAt: string;
  readonly rotatedAt: string | null;
}

/** What the key administration needs. */
export interface KeyAdminDeps {
  readonly db: Database;
  readonly keyring: Keyring;
  readonly events: SecurityEvents;
  readonly registry?: ColumnRegistry;
}

const job = (name: string, reason: string, orgId?: string) => ({
  name: `crypto.${name}`,
  reason,
  ...(orgId ? { orgId } : {}),
});

/** Per organization and version: status, KEK, and how many values each version protects. */
export async function keyStatus(d: KeyAdminDeps, orgId?: string): Promise<KeyVersionStatus[]> {
  if (orgId !== undefined) checkOrg(orgId);
  return d.db.asSystem(
    job('status', 'counts values per key version across tenants', orgId),
    async (tx) => {
      const keys = await tx.query<{
        organization_id: string;
        version: number;
        status: KeyStatus;
        kek_id: string;
        created_at: Date;
        rotated_at: Date | null;
      }>(
        `select organization_id, version, status, kek_id, created_at, rotated_at
         from ward.encryption_keys where ($1::uuid is null or organization_id = $1)
        order by organization_id, version`,
        [orgId ?? null],
      );
      const counts = await countValuesByVersion(
        tx,
        (d.registry ?? columnRegistry).encryptedColumns(),
        orgId,
      );
      return keys.rows.map((k) => ({
        orgId: k.organization_id,
        version: k.version,
        status: k.status,
        kekId: k.kek_id,
        values: counts.get(k.organization_id)?.get(k.version) ?? 0,
        createdAt: k.created_at.toISOString(),
        rotatedAt: k.rotated_at?.toISOString() ?? null,
      }));
    },
  );
}

/** Legacy plaintext values an organization still holds ("version 0"), as `keys status` shows them. */
export interface PlaintextStatus {
  readonly orgId: string;
  readonly version: 0;
  readonly values: number;
}

/**
 * Per organization, how many values of registered columns are still legacy plaintext (stored
 * before their column was encrypted, migration 0022): what `ward keys rewrap` encrypts next.
 * Organizations with none are left out, so an empty list means every value is encrypted.
 */
export async function plaintextStatus(d: KeyAdminDeps, orgId?: string): Promise<PlaintextStatus[]> {
  if (orgId !== undefined) checkOrg(orgId);
  return d.db.asSystem(
    job('status', 'counts legacy plaintext values across tenants', orgId),
    async (tx) => {
      const counts = await countLegacyValues(
        tx,
        (d.registry ?? columnRegistry).encryptedColumns(),
        orgId,
      );
      return [...counts.entries()]
        .filter(([, n]) => n > 0)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([org, values]) => ({ orgId: org, version: 0 as const, values }));
    },
  );
}

/**
 * Makes a new data-key version primary for one organization (or every organization that has
 * keys): the previous primary becomes decrypt-only. New writes use the new version at once in
 * this process, and within the keyring's primary TTL in every other process.
 * @returns the new version per organization
 */
export async function rotateDataKeys(
  d: KeyAdminDeps,
  orgId?: string,
): Promise<{ orgId: string; version: number }[]> {
  const orgs = orgId
    ? [checkOrg(orgId)]
    : await d.db.asSystem(job('rotate', 'lists organizations with keys'), async (tx) =>
        (
          await tx.query<{ organization_id: string }>(
            `select distinct organization_id from ward.encryption_keys where status = 'active'`,
          )
        ).rows.map((r) => r.organization_id),
      );
  const out: { orgId: string; version: number }[] = [];
  for (const org of orgs) {
    const dek = randomBytes(keyBytes);
    try {
      const rotated = await d.db.asSystem(
        job('rotate', 'creates a data-key version', org),
        async (tx) => {
          const cur = await tx.query<{ version: number; status: KeyStatus }>(
            `select version, status from ward.encryption_keys where organization_id = $1
            order by version desc for update`,
            [org],
          );
          if (cur.rows.some((r) => r.status === 'destroyed'))
            throw new WardError('key_destroyed', 'The organization was crypto-shredded');
          const next = (cur.rows[0]?.version ?? 0) + 1;
          const wrapped = await d.keyring.kek.current.wrap(dek, {
            orgId: org,
            purpose: 'data',
            version: next,
          });
          await tx.query(
            `update ward.encryption_keys set status = 'decrypt_only', rotated_at = now()
            where organization_id = $1 and status = 'active'`,
            [org],
          );
          await tx.query(
            `insert into ward.encryption_keys (organization_id, version, wrapped_key, kek_id, status)
           values ($1, $2, $3, $4, 'active')`,
            [org, next, wrapped, d.keyring.kek.current.id],
          );
          // Recorded in the rotation's own transaction: a new primary key never exists
          // without its audit record.
          const event = { type: 'crypto.key_rotated', orgId: org, version: next } as const;
          return { event, recorded: await d.events.recordIn(tx, event) };
        },
      );
      d.keyring.forget(org);
      await d.events.emit(rotated.event, { recorded: rotated.recorded });
      const version = rotated.event.version;
      out.push({ orgId: org, version });
    } finally {
      dek.fill(0);
    }
  }
  return out;
}

/** Retires a decrypt-only version; refuses while any value still uses it or it is primary. */
export async function retireKey(
  d: KeyAdminDeps,
  organizationId: string,
  version: number,
): Promise<void> {
  const orgId = checkOrg(organizationId);
  const retired = await d.db.asSystem(
    job('retire', 'retires a data-key version', orgId),
    async (tx) => {
      const r = await tx.query<{ status: KeyStatus }>(
        `select status from ward.encryption_keys where organization_id = $1 and version = $2 for update`,
        [orgId, version],
      );
      const status = r.rows[0]?.status;
      if (!status)
        throw new WardError('not_found', `Organization ${orgId} has no key version ${version}`);
      if (status === 'active')
        throw new WardError('key_in_use', `Version ${version} is the primary key; rotate first`);
      if (status !== 'decrypt_only')
        throw new WardError('conflict', `Version ${version} is already ${status}`);
      const counts = await countValuesByVersion(
        tx,
        (d.registry ?? columnRegistry).encryptedColumns(),
        orgId,
      );
      const n = counts.get(orgId)?.get(version) ?? 0;
      if (n > 0) {
        throw new WardError(
          'key_in_use',
          `Version ${version} still protects ${n} value(s); run \`ward keys rewrap --org ${orgId}\` first`,
          { values: n },
        );
      }
      await tx.query(
        `update ward.encryption_keys set status = 'retired', retired_at = now()
        where organization_id = $1 and version = $2`,
        [orgId, version],
      );
      // Running servers forget the organization's cached keys at commit (key-events.ts).
      await notifyKeyEvent(tx, { orgId, kind: 'retired' });
      // Recorded with the retirement itself, like a shred.
      const event = { type: 'crypto.key_retired', orgId, version } as const;
      return { event, recorded: await d.events.recordIn(tx, event) };
    },
  );
  d.keyring.forget(orgId);
  await d.events.emit(retired.event, { recorded: retired.recorded });
}

/**
 * Crypto-shredding: erases every wrapped data key and the blind-index root of one
 * organization, so its encrypted values can never be read again. Irreversible by design;
 * the CLI asks for an explicit confirmation. The `crypto.keys_shredded` record is written in
 * the shred's own transaction (`recordIn`): the keys are destroyed exactly when it commits,
 * and a shred whose record cannot be written destroys nothing.
 * @returns the destroyed data-key versions
 */
export async function shredOrganizationKeys(
  d: KeyAdminDeps,
  organizationId: string,
  reason: string,
): Promise<number[]> {
  const orgId = checkOrg(organizationId);
  const shred = await d.db.asSystem(job('shred', reason, orgId), async (tx) => {
    const r = await tx.query<{ version: number }>(
      `update ward.encryption_keys
          set status = 'destroyed', wrapped_key = null, destroyed_at = now()
        where organization_id = $1 and status <> 'destroyed' returning version`,
      [orgId],
    );
    await tx.query(
      `update ward.blind_index_keys set wrapped_key = null, destroyed_at = now()
        where organization_id = $1 and destroyed_at is null`,
      [orgId],
    );
    // Keys that never existed cannot be created later either: record the shred itself.
    await tx.query(
      `insert into ward.encryption_keys (organization_id, version, wrapped_key, kek_id, status, destroyed_at)
       select $1, 1, null, 'shredded', 'destroyed', now()
        where not exists (select 1 from ward.encryption_keys where organization_id = $1)`,
      [orgId],
    );
    await tx.query(
      `insert into ward.blind_index_keys (organization_id, version, wrapped_key, kek_id, destroyed_at)
       values ($1, 1, null, 'shredded', now()) on conflict do nothing`,
      [orgId],
    );
    // Values still in a legacy plaintext column (written before it was encrypted) would survive
    // the keys: they are replaced, in this transaction, by values no key opens.
    const newest = await tx.query<{ version: number }>(
      'select max(version)::int as version from ward.encryption_keys where organization_id = $1',
      [orgId],
    );
    const erased = await eraseLegacyValues(
      tx,
      orgId,
      newest.rows[0]?.version ?? 1,
      (d.registry ?? columnRegistry).encryptedColumns(),
    );
    // Delivered at commit to every `ward serve` listening on PostgreSQL, which then forget
    // the organization's cached keys (key-events.ts); a lost notification is bounded by the
    // keyring's 60 s TTL. This process's own keyring is cleared just below.
    await notifyKeyEvent(tx, { orgId, kind: 'shredded' });
    const destroyed = r.rows.map((x) => x.version).sort((a, b) => a - b);
    const event = {
      type: 'crypto.keys_shredded',
      orgId,
      versions: destroyed,
      reason,
      ...(erased > 0 ? { plaintextErased: erased } : {}),
    } as const;
    return { event, recorded: await d.events.recordIn(tx, event) };
  });
  d.keyring.forget(orgId);
  // Told after the commit (logs, tests); the audit recorder skips what it already wrote.
  await d.events.emit(shred.event, { recorded: shred.recorded });
  return shred.event.versions;
}

// The canonical (lower-case) spelling, as PostgreSQL prints uuids: the key event that other
// servers receive and the audit event must name the organization as its rows do.
function checkOrg(orgId: string): string {
  if (!isUuid(orgId)) throw new WardError('bad_request', 'The organization id must be a UUID');
  return orgId.toLowerCase();
}
