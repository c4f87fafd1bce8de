-- Migration: 0016-grant-date-of-death (rollback)
-- Purpose: Granted reads return the date of death and risk category again whatever the grant
--          lists; grants naming `dateOfDeath` must be revoked first (the old check refuses them).
-- Online-safe: yes (the service must be downgraded with it)

ALTER TABLE ward.access_grants DROP CONSTRAINT access_grants_fields_check;
ALTER TABLE ward.access_grants ADD CONSTRAINT access_grants_fields_check
  CHECK (cardinality(fields) <= 20
         AND fields <@ ARRAY['firstName', 'lastName', 'dateOfBirth', 'ssn', 'email', 'phone',
                             'address', 'emergencyContact', 'insurance',
                             'allergies', 'vitals', 'conditions']::text[]);

CREATE OR REPLACE FUNCTION clinical.granted_patient(p_id uuid)
  RETURNS TABLE (
    id uuid, organization_id uuid, mrn text, version integer,
    first_name_encrypted bytea, last_name_encrypted bytea, date_of_birth_encrypted bytea,
    ssn_encrypted bytea, email_encrypted bytea, phone_encrypted bytea, address_encrypted bytea,
    emergency_contact_encrypted bytea, insurance_encrypted bytea,
    allergies jsonb, vitals jsonb, conditions jsonb,
    status clinical.patient_status, date_of_death text, risk_category clinical.risk_category,
    created_at timestamptz, updated_at timestamptz, fields text[])
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$
  WITH granted AS (
    SELECT p.*,
           array(SELECT DISTINCT f FROM ward.access_grants g, unnest(g.fields) f
                  WHERE g.organization_id = p.organization_id AND g.patient_id = p.id
                    AND g.grantee_organization_id = ward.current_org_id()
                    AND 'patient:read' = ANY (g.permissions)
                    AND ward.current_purpose() = ANY (g.purposes)
                    AND g.revoked_at IS NULL AND now() >= g.valid_from AND now() < g.valid_until
                  ORDER BY f) AS disclosed
      FROM clinical.patients p
     WHERE p.id = p_id AND p.organization_id <> ward.current_org_id()
       AND ward.grant_allows(p.organization_id, p.id, 'patient:read')
  )
  SELECT id, organization_id, mrn, version,
         CASE WHEN 'firstName' = ANY (disclosed) THEN first_name_encrypted END,
         CASE WHEN 'lastName' = ANY (disclosed) THEN last_name_encrypted END,
         CASE WHEN 'dateOfBirth' = ANY (disclosed) THEN date_of_birth_encrypted END,
         CASE WHEN 'ssn' = ANY (disclosed) THEN ssn_encrypted END,
         CASE WHEN 'email' = ANY (disclosed) THEN email_encrypted END,
         CASE WHEN 'phone' = ANY (disclosed) THEN phone_encrypted END,
         CASE WHEN 'address' = ANY (disclosed) THEN address_encrypted END,
         CASE WHEN 'emergencyContact' = ANY (disclosed) THEN emergency_contact_encrypted END,
         CASE WHEN 'insurance' = ANY (disclosed) THEN insurance_encrypted END,
         CASE WHEN disclosed @> ARRAY['allergies', 'vitals', 'conditions'] THEN allergies END,
         CASE WHEN disclosed @> ARRAY['allergies', 'vitals', 'conditions'] THEN vitals END,
         CASE WHEN disclosed @> ARRAY['allergies', 'vitals', 'conditions'] THEN conditions END,
         status, date_of_death::text, risk_category, created_at, updated_at, disclosed
    FROM granted
   LIMIT 1
$$;
