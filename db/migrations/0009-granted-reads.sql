-- Migration: 0009-granted-reads
-- Purpose: Let a grantee organization actually read a patient another organization granted it
--          (seed 2: a provider reaches a payer's patient through an authorization). RLS already
--          shows the granted rows (ward.grant_allows); this adds the two missing pieces:
--          (1) the grantee may load the owner's wrapped data keys, and only while it holds a
--          live grant from that owner for the request's purpose (never the blind-index root, so
--          it cannot search the owner's patients); (2) the grantee writes an accounting-of-
--          disclosures event into the owner's audit chain in the same transaction as the read
--          (HIPAA 164.528), so the owner's own log shows every disclosure.
-- Online-safe: yes (a new function, two new policies; the two foreign keys are added NOT VALID,
--              a brief lock, and validated under SHARE UPDATE EXCLUSIVE, which lets writes go on)

-- True while the current organization holds a live grant from p_owner for the current purpose.
CREATE FUNCTION ward.grant_reaches(p_owner uuid) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
  AS $$
  SELECT EXISTS (
    SELECT 1 FROM ward.access_grants g
     WHERE g.organization_id = p_owner
       AND g.grantee_organization_id = ward.current_org_id()
       AND ward.current_purpose() = ANY (g.purposes)
       AND g.revoked_at IS NULL
       AND now() >= g.valid_from AND now() < g.valid_until)
$$;
REVOKE ALL ON FUNCTION ward.grant_reaches(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ward.grant_reaches(uuid) TO ward_app, ward_system;

-- Wrapped data keys (useless without the KEK) of a granting owner; destroyed keys have no
-- material anyway. Blind-index roots stay strictly per organization.
CREATE POLICY encryption_keys_granted ON ward.encryption_keys FOR SELECT
  USING (status <> 'destroyed' AND ward.grant_reaches(organization_id));

-- One kind of event only, about a granted patient only, into the owner's chain. No RETURNING is
-- possible (the grantee cannot read the owner's log back).
CREATE POLICY events_disclosure ON audit.events FOR INSERT
  WITH CHECK (event_type = 'patient.disclosure'
              AND patient_id IS NOT NULL
              AND organization_id <> (SELECT ward.current_org_id())
              AND ward.grant_allows(organization_id, patient_id, 'patient:read'));

-- A grant or a break-glass session names a patient of its own organization, never an id from
-- another tenant (which would only be junk, but echoes that tenant's id back as if it were
-- valid). The composite keys make another tenant's patient look exactly like a missing one.
ALTER TABLE ward.access_grants
  ADD CONSTRAINT access_grants_patient_fk FOREIGN KEY (organization_id, patient_id)
  REFERENCES clinical.patients (organization_id, id) NOT VALID;
ALTER TABLE ward.access_grants VALIDATE CONSTRAINT access_grants_patient_fk;
ALTER TABLE ward.break_glass_sessions
  ADD CONSTRAINT break_glass_sessions_patient_fk FOREIGN KEY (organization_id, patient_id)
  REFERENCES clinical.patients (organization_id, id) NOT VALID;
ALTER TABLE ward.break_glass_sessions VALIDATE CONSTRAINT break_glass_sessions_patient_fk;
