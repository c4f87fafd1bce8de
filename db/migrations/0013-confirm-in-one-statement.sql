-- Migration: 0013-confirm-in-one-statement
-- Purpose: A known principal is confirmed by one plain statement that the server sends in the
--          request's opening (src/modules/access/confirmation.ts) instead of a PL/pgSQL call
--          that hashed a fingerprint: that statement compares what the cached row was derived
--          from directly and, only when something differs, calls ward.refuse_principal, which
--          raises WA401. The fingerprint functions and ward.confirm_session / _api_key are
--          dropped; auth_version and its triggers stay (the statement compares it).
-- Online-safe: yes (new function; the dropped ones are called only by servers of the previous
--          version, which must be stopped first)

-- See docs/decisions/2026-12-03-confirm-in-one-statement.md.
-- Called from a CASE branch that is taken only when the confirmation found no matching row,
-- so the success path runs no procedural code at all.
CREATE FUNCTION ward.refuse_principal(p_kind text) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  RAISE EXCEPTION 'the % must be authenticated again', p_kind USING ERRCODE = 'WA401';
END
$$;

DROP FUNCTION ward.confirm_api_key(uuid, bytea, bytea);
DROP FUNCTION ward.confirm_session(uuid, bytea, bytea);
DROP FUNCTION ward.api_key_fingerprint(uuid);
DROP FUNCTION ward.session_fingerprint(uuid);
DROP FUNCTION ward.principal_fingerprint(text, uuid, uuid, boolean, text, text[], timestamptz,
                                         ward.principal_type, bigint, bigint);
