-- Migration: 0012-confirm-principal
-- Purpose: Let a request whose principal the server already knows authenticate without an
--          awaited round trip. ward.confirm_session / ward.confirm_api_key run the same
--          authentication as ward.authenticate_session / _api_key (every check, the idle-window
--          update, the context it sets) and compare the SHA-256 of the result row as JSON with
--          the fingerprint the server got from its last full authentication of that token. Any
--          difference (revoked, expired, idle, disabled, a role, permission, setting, policy
--          version, MFA or break-glass change) raises SQLSTATE WA401, which aborts the
--          transaction before any statement queued behind it can run; the server then
--          authenticates the request in full. The fingerprint is computed exactly as the
--          request prelude computes it (`sha256(convert_to(to_jsonb(row)::text, 'UTF8'))`).
-- Online-safe: yes (new functions only)

CREATE FUNCTION ward.confirm_session(p_session_id uuid, p_token_hash bytea, p_fingerprint bytea)
  RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  fp bytea;
BEGIN
  SELECT sha256(convert_to(to_jsonb(a)::text, 'UTF8')) INTO fp
    FROM ward.authenticate_session(p_session_id, p_token_hash) a;
  IF fp IS DISTINCT FROM p_fingerprint THEN
    RAISE EXCEPTION 'the session must be authenticated again' USING ERRCODE = 'WA401';
  END IF;
  RETURN true;
END
$$;

CREATE FUNCTION ward.confirm_api_key(p_key_id uuid, p_token_hash bytea, p_fingerprint bytea)
  RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  fp bytea;
BEGIN
  SELECT sha256(convert_to(to_jsonb(a)::text, 'UTF8')) INTO fp
    FROM ward.authenticate_api_key(p_key_id, p_token_hash) a;
  IF fp IS DISTINCT FROM p_fingerprint THEN
    RAISE EXCEPTION 'the API key must be authenticated again' USING ERRCODE = 'WA401';
  END IF;
  RETURN true;
END
$$;
