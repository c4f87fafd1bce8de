-- Migration: 0011-grant-fields (rollback)
-- Purpose: Back to grants without field lists (reads through a grant then return what the
--          grantee's role allows) and the earlier disclosure policy.
-- Online-safe: yes

DROP POLICY events_disclosure ON audit.events;
CREATE POLICY events_disclosure ON audit.events FOR INSERT
  WITH CHECK (event_type = 'patient.disclosure'
              AND patient_id IS NOT NULL
              AND organization_id <> (SELECT ward.current_org_id())
              AND ward.grant_allows(organization_id, patient_id, 'patient:read'));
REVOKE INSERT (fields) ON ward.access_grants FROM ward_app;
ALTER TABLE ward.access_grants DROP COLUMN fields;
