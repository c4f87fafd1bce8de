-- Migration: 0008-granted-reads (rollback)
-- Purpose: Remove grantee key access and disclosure events into the owner's chain (grantees can
--          then see granted rows but no longer decrypt them; events already written stay).
-- Online-safe: yes

DROP POLICY events_disclosure ON audit.events;
DROP POLICY encryption_keys_granted ON ward.encryption_keys;
DROP FUNCTION ward.grant_reaches(uuid);
