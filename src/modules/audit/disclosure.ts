import type { Tx } from '../../platform/db/index.ts';
import { isUuid } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';

/** Event type of the owner-side record of a read through a grant (accounting of disclosures). */
export const disclosureEventType = 'patient.disclosure';

/** What the owner's log learns about a read of its patient by a grantee organization. */
export interface DisclosureInput {
  /** The organization that owns the patient and granted access. */
  readonly ownerOrgId: string;
  readonly patientId: string;
  /** API names of the PHI fields the grantee received (never values). */
  readonly phiFields: readonly string[];
  /** The resource disclosed, e.g. `Patient`, and its id. */
  readonly entityType: string;
  readonly entityId: string;
  /** Where the grantee's request came from, as its own event records it. */
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
}

// No RETURNING: the grantee may write this one event into the owner's chain (policy
// `events_disclosure`) but cannot read the owner's log back. The recipient is named by the
// database (the grantee's own organization row, which its request can read), as of the
// disclosure: an accounting names who received the data then (45 CFR 164.528(b)(2)(ii)).
const disclosureSql = `
  insert into audit.events (organization_id, action, event_type, entity_type, entity_id, patient_id,
                            phi_fields, ip, user_agent, metadata)
  values ($1, 'R', '${disclosureEventType}', $2, $3, $4, $5::text[], $6::inet, $7,
          jsonb_build_object('granteeOrganizationId', ward.current_org_id(),
                             'granteeOrganizationName',
                             (select o.name from ward.organizations o where o.id = ward.current_org_id())))`;

/**
 * Writes the owner-side audit event of a disclosure through a grant, in the caller's
 * transaction, so the owner's own chain shows who in which organization read which fields of
 * its patient, when and for what purpose (HIPAA 164.528, accounting of disclosures). The
 * database accepts it only while a live grant covers this patient and purpose.
 */
export async function recordDisclosure(tx: Tx, d: DisclosureInput): Promise<void> {
  if (!isUuid(d.ownerOrgId) || !isUuid(d.patientId)) {
    throw new WardError('validation_failed', 'disclosure owner and patient must be UUIDs');
  }
  await tx.query(disclosureSql, [
    d.ownerOrgId,
    d.entityType,
    d.entityId,
    d.patientId,
    d.phiFields,
    d.ip ?? null,
    d.userAgent?.slice(0, 512) ?? null,
  ]);
}
