import { computeBlindIndex, nameDobValue } from '../../src/modules/crypto/blind-index.ts';
import type { WardCrypto } from '../../src/modules/crypto/index.ts';
import { qualifiedColumn } from '../../src/modules/crypto/registry.ts';
import { patientIndexes } from '../../src/modules/clinical/encrypted-columns.ts';
import { createPatient } from '../../src/modules/clinical/patients-service.ts';
import type { Database } from '../../src/platform/db/index.ts';

/**
 * Makes an organization look as it did before migration 0023: its index root says its indexes
 * were computed with normalization version 1 and no column was reindexed. Call it before the
 * organization's first search (a process caches the floor it read).
 */
export async function markLegacyOrganization(db: Database, orgId: string): Promise<void> {
  await db.asAdmin(async (tx) => {
    await tx.query(
      'update ward.blind_index_keys set normalization = 1 where organization_id = $1',
      [orgId],
    );
    await tx.query('delete from ward.blind_index_normalization where organization_id = $1', [
      orgId,
    ]);
  });
}

/** The identifiers of a patient whose indexes a test rewrites. */
export interface IndexedIdentifiers {
  readonly lastName: string;
  readonly dateOfBirth: string;
  readonly email?: string | null;
  readonly phone?: string | null;
  readonly ssn?: string | null;
}

/**
 * Rewrites a patient's blind indexes as `version` computes them from `ids` (what code of that
 * version stored): a row written before the normalization changed, or by an old server.
 */
export async function writeIndexesAt(
  db: Database,
  crypto: WardCrypto,
  orgId: string,
  patientId: string,
  ids: IndexedIdentifiers,
  version: number,
): Promise<void> {
  const at = async (
    index: (typeof patientIndexes)[keyof typeof patientIndexes],
    value: string | null | undefined,
  ): Promise<Buffer | null> =>
    value == null
      ? null
      : db.withContext({ orgId, actorType: 'system' }, (tx) =>
          crypto.keyring.withIndexKey(tx, orgId, qualifiedColumn(index), (key) =>
            computeBlindIndex(key, index.kind, value, index.bits, version),
          ),
        );
  // Only the identifiers given are rewritten; an optional one the patient lacks stays null.
  const sets: [string, Buffer | null][] = [
    [
      'name_dob_bidx',
      await at(patientIndexes.nameDob, nameDobValue(ids.lastName, ids.dateOfBirth)),
    ],
  ];
  if (ids.email !== undefined) sets.push(['email_bidx', await at(patientIndexes.email, ids.email)]);
  if (ids.phone !== undefined) sets.push(['phone_bidx', await at(patientIndexes.phone, ids.phone)]);
  if (ids.ssn !== undefined) sets.push(['ssn_bidx', await at(patientIndexes.ssn, ids.ssn)]);
  await db.asAdmin((tx) =>
    tx.query(
      `update clinical.patients set ${sets.map(([c], i) => `${c} = $${i + 3}`).join(', ')}
        where organization_id = $1 and id = $2`,
      [orgId, patientId, ...sets.map(([, v]) => v)],
    ),
  );
}

/** A patient as a test registers it (identifiers that the normalization cares about). */
export interface TestPatient extends IndexedIdentifiers {
  readonly mrn: string;
}

/**
 * Registers a patient through the service and rewrites its indexes as normalization `version`
 * computed them, as if code of that version had stored it; returns its id.
 */
export async function registerPatientAt(
  db: Database,
  crypto: WardCrypto,
  orgId: string,
  p: TestPatient,
  version: number,
): Promise<string> {
  const created = await db.withContext({ orgId, actorType: 'system', purpose: 'TREAT' }, (tx) =>
    createPatient(
      tx,
      crypto.codec,
      orgId,
      null,
      {
        mrn: p.mrn,
        firstName: 'Synthetic',
        lastName: p.lastName,
        dateOfBirth: p.dateOfBirth,
        ...(p.email ? { email: p.email } : {}),
        ...(p.phone ? { phone: p.phone } : {}),
        ...(p.ssn ? { ssn: p.ssn } : {}),
      },
      { fields: [], clinical: false },
    ),
  );
  await writeIndexesAt(db, crypto, orgId, created.value.id, p, version);
  return created.value.id;
}
