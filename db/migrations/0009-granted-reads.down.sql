-- Migration: 0009-granted-reads (rollback)
-- Purpose: Remove grantee key access and disclosure events into the owner's chain (grantees can
--          then see granted rows but no longer decrypt them; events already written stay).
-- Online-safe: yes

ALTER TABLE ward.break_glass_sessions DROP CONSTRAINT break_glass_sessions_patient_fk;
ALTER TABLE ward.access_grants DROP CONSTRAINT access_grants_patient_fk;
DROP POLICY events_disclosure ON audit.events;
DROP POLICY encryption_keys_granted ON ward.encryption_keys;
DROP FUNCTION ward.grant_reaches(uuid);
