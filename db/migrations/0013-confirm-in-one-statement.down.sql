-- Migration: 0013-confirm-in-one-statement (rollback)
-- Purpose: Restore the fingerprint functions and ward.confirm_session / _api_key of migration
--          0012 (their definitions as 0012 created them) and drop ward.refuse_principal.
-- Online-safe: yes (a server that sends the one-statement confirmation must be stopped first)

-- The one definition of a fingerprint. Timestamps enter as epoch seconds, so the text does not
-- depend on the connection's time zone or date style. No SET clause and STABLE (record output
-- is): PostgreSQL then inlines it into the statements that call it instead of running it
-- through the SQL-function executor, which would plan its body again on every call. Its names
-- are qualified with pg_catalog, which is searched first in any case.
CREATE FUNCTION ward.principal_fingerprint(p_kind text, p_id uuid, p_user_id uuid, p_mfa boolean,
                                           p_restricted text, p_scopes text[], p_expires_at timestamptz,
                                           p_principal_type ward.principal_type, p_auth_version bigint,
                                           p_policy_version bigint)
  RETURNS bytea
  LANGUAGE sql STABLE
  AS $$
  SELECT pg_catalog.sha256(pg_catalog.convert_to(
           row(p_kind, p_id, p_user_id, p_mfa, p_restricted, p_scopes,
               extract(epoch FROM p_expires_at), p_principal_type,
               p_auth_version, p_policy_version)::text, 'UTF8'))
$$;

-- STABLE: evaluated with the snapshot of the statement that calls it. Called next to
-- ward.authenticate_session in one statement, it therefore reads the versions no later than
-- the function read the roles and permissions: a change committed in between makes the
-- fingerprint older than the row, so the next confirmation fails safe (re-authentication),
-- never the reverse.
CREATE FUNCTION ward.session_fingerprint(p_session_id uuid) RETURNS bytea
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
  AS $$
  SELECT ward.principal_fingerprint('session', s.id, s.user_id, s.mfa_verified, s.restricted, NULL,
                                    s.expires_at, u.principal_type, o.auth_version, o.policy_version)
    FROM ward.sessions s
    JOIN ward.users u ON u.organization_id = s.organization_id AND u.id = s.user_id
    JOIN ward.organizations o ON o.id = s.organization_id
   WHERE s.organization_id = ward.current_org_id() AND s.id = p_session_id
$$;

CREATE FUNCTION ward.api_key_fingerprint(p_key_id uuid) RETURNS bytea
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
  AS $$
  SELECT ward.principal_fingerprint('api_key', k.id, k.principal_id, NULL, NULL, k.scopes,
                                    k.expires_at, u.principal_type, o.auth_version, o.policy_version)
    FROM ward.api_keys k
    JOIN ward.users u ON u.organization_id = k.organization_id AND u.id = k.principal_id
    JOIN ward.organizations o ON o.id = k.organization_id
   WHERE k.organization_id = ward.current_org_id() AND k.id = p_key_id
$$;

-- Every condition of ward.authenticate_session, on one row, plus the fingerprint.
CREATE FUNCTION ward.confirm_session(p_session_id uuid, p_token_hash bytea, p_fingerprint bytea)
  RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  r record;
BEGIN
  -- The context is pinned in the same statement; if the checks below fail, the exception
  -- aborts the transaction and the settings die with it.
  SELECT s.last_seen_at,
         ward.principal_fingerprint('session', s.id, s.user_id, s.mfa_verified, s.restricted, NULL,
                                    s.expires_at, u.principal_type, o.auth_version,
                                    o.policy_version) AS fingerprint,
         set_config('ward.user_id', s.user_id::text, true) AS pinned_user,
         set_config('ward.session_id', s.id::text, true) AS pinned_session
    INTO r
    FROM ward.sessions s
    JOIN ward.users u ON u.organization_id = s.organization_id AND u.id = s.user_id
    JOIN ward.organizations o ON o.id = s.organization_id
   WHERE s.organization_id = ward.current_org_id() AND s.id = p_session_id
     AND s.token_hash = p_token_hash
     AND s.revoked_at IS NULL
     AND s.expires_at > now()
     AND s.last_seen_at + make_interval(mins => coalesce((o.settings ->> 'sessionIdleMinutes')::integer, 15)) > now()
     AND u.status = 'active'
     AND o.status = 'active';
  IF NOT FOUND OR r.fingerprint IS DISTINCT FROM p_fingerprint THEN
    RAISE EXCEPTION 'the session must be authenticated again' USING ERRCODE = 'WA401';
  END IF;
  IF r.last_seen_at < now() - interval '30 seconds' THEN
    UPDATE ward.sessions x SET last_seen_at = now()
     WHERE x.organization_id = ward.current_org_id() AND x.id = p_session_id;
  END IF;
  RETURN true;
END
$$;

-- Every condition of ward.authenticate_api_key, on one row, plus the fingerprint.
CREATE FUNCTION ward.confirm_api_key(p_key_id uuid, p_token_hash bytea, p_fingerprint bytea)
  RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  r record;
BEGIN
  SELECT k.last_used_at,
         ward.principal_fingerprint('api_key', k.id, k.principal_id, NULL, NULL, k.scopes,
                                    k.expires_at, u.principal_type, o.auth_version,
                                    o.policy_version) AS fingerprint,
         set_config('ward.user_id', k.principal_id::text, true) AS pinned_user
    INTO r
    FROM ward.api_keys k
    JOIN ward.users u ON u.organization_id = k.organization_id AND u.id = k.principal_id
    JOIN ward.organizations o ON o.id = k.organization_id
   WHERE k.organization_id = ward.current_org_id() AND k.id = p_key_id
     AND k.token_hash = p_token_hash
     AND k.revoked_at IS NULL
     AND k.expires_at > now()
     AND u.status = 'active'
     AND o.status = 'active';
  IF NOT FOUND OR r.fingerprint IS DISTINCT FROM p_fingerprint THEN
    RAISE EXCEPTION 'the API key must be authenticated again' USING ERRCODE = 'WA401';
  END IF;
  IF r.last_used_at IS NULL OR r.last_used_at < now() - interval '60 seconds' THEN
    UPDATE ward.api_keys x SET last_used_at = now()
     WHERE x.organization_id = ward.current_org_id() AND x.id = p_key_id;
  END IF;
  RETURN true;
END
$$;

DROP FUNCTION ward.refuse_principal(text);
