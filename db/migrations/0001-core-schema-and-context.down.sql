-- Migration: 0001-core-schema-and-context (rollback)
-- Purpose: Remove the core schema and context functions. The cluster roles stay: other
--          databases on the same server may use them.
-- Online-safe: no

DROP FUNCTION ward.touch_updated_at();
DROP FUNCTION ward.current_request_id();
DROP FUNCTION ward.current_purpose();
DROP FUNCTION ward.current_actor_type();
DROP FUNCTION ward.current_session_id();
DROP FUNCTION ward.current_user_id();
DROP FUNCTION ward.current_org_id();
DROP SCHEMA ward;
