-- Migration: 0012-confirm-principal (rollback)
-- Purpose: Remove the confirming functions; every request authenticates in full again.
-- Online-safe: yes (a server that still calls them must be stopped first)

DROP FUNCTION ward.confirm_api_key(uuid, bytea, bytea);
DROP FUNCTION ward.confirm_session(uuid, bytea, bytea);
