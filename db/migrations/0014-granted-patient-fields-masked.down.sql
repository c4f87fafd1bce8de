-- Migration: 0014-granted-patient-fields-masked (rollback)
-- Purpose: Grantees read granted patient rows from clinical.patients again (the service caps
--          the fields it decrypts).
-- Online-safe: yes (the service must be downgraded with it)

DROP FUNCTION clinical.granted_patient(uuid);
DROP POLICY patients_granted ON clinical.patients;
CREATE POLICY patients_granted ON clinical.patients FOR SELECT
  USING (ward.grant_allows(organization_id, id, 'patient:read'));
