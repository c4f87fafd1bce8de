-- Migration: 0011-grant-fields
-- Purpose: The owner, not the grantee, decides which PHI fields a grant discloses (minimum
--          necessary for a disclosure is set by the organization that holds the record): grants
--          gain `fields`, the patient fields (API names) a read through the grant may return;
--          the grantee's own role and policies can only narrow that. Existing grants get none,
--          which discloses no PHI field until the owner issues a new grant. The disclosure
--          event a grantee writes into the owner's chain must also name the grantee's actual
--          request context (actor, actor type, session) and a successful read, so the
--          grantee cannot attribute it to someone else.
-- Online-safe: yes (a column with a constant default, a replaced policy)

ALTER TABLE ward.access_grants
  ADD COLUMN fields text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(fields) <= 20
           AND fields <@ ARRAY['firstName', 'lastName', 'dateOfBirth', 'ssn', 'email', 'phone',
                               'address', 'emergencyContact', 'insurance',
                               'allergies', 'vitals', 'conditions']::text[]);
GRANT INSERT (fields) ON ward.access_grants TO ward_app;

DROP POLICY events_disclosure ON audit.events;
CREATE POLICY events_disclosure ON audit.events FOR INSERT
  WITH CHECK (event_type = 'patient.disclosure'
              AND action = 'R'
              AND outcome = '0'
              AND patient_id IS NOT NULL
              AND organization_id <> (SELECT ward.current_org_id())
              AND actor_type = ward.current_actor_type()
              AND actor_id IS NOT DISTINCT FROM ward.current_user_id()
              AND session_id IS NOT DISTINCT FROM ward.current_session_id()
              AND ward.grant_allows(organization_id, patient_id, 'patient:read'));
