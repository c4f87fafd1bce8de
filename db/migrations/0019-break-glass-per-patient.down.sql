-- Migration: 0019-break-glass-per-patient (rollback)
-- Purpose: Back to one break-glass expiry for the whole organization (`break_glass_until`);
--          sessions may again be started without a patient.
-- Online-safe: yes (the service must be downgraded with it)

DROP FUNCTION ward.authenticate_session(uuid, bytea);

-- Authenticates a session inside the request's own transaction (no extra round trip). The
-- transaction's organization comes from the token and is only a claim until this function
-- finds the session under RLS and compares the token hash. On success it pins the user and
-- session into the transaction's context; on failure it returns one row whose `failure`
-- names the reason (for the audit trail; the client sees a generic 401).
CREATE FUNCTION ward.authenticate_session(p_session_id uuid, p_token_hash bytea)
  RETURNS TABLE (failure text, user_id uuid, principal_type ward.principal_type, session_id uuid,
                 mfa_verified boolean, restricted text, roles text[], permissions text[],
                 expires_at timestamptz, break_glass_until timestamptz, policy_version bigint,
                 settings jsonb)
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  s ward.sessions%ROWTYPE;
  u ward.users%ROWTYPE;
  o ward.organizations%ROWTYPE;
  idle_minutes integer;
BEGIN
  SELECT * INTO s FROM ward.sessions x WHERE x.organization_id = ward.current_org_id() AND x.id = p_session_id;
  IF NOT FOUND OR s.token_hash <> p_token_hash THEN
    RETURN QUERY SELECT 'unknown_session'::text, NULL::uuid, NULL::ward.principal_type, NULL::uuid, NULL::boolean,
      NULL::text, NULL::text[], NULL::text[], NULL::timestamptz, NULL::timestamptz, NULL::bigint, NULL::jsonb;
    RETURN;
  END IF;
  SELECT * INTO o FROM ward.organizations x WHERE x.id = s.organization_id;
  SELECT * INTO u FROM ward.users x WHERE x.organization_id = s.organization_id AND x.id = s.user_id;
  idle_minutes := coalesce((o.settings ->> 'sessionIdleMinutes')::integer, 15);
  failure := CASE
    WHEN s.revoked_at IS NOT NULL THEN 'session_revoked'
    WHEN s.expires_at <= now() THEN 'session_expired'
    WHEN s.last_seen_at + make_interval(mins => idle_minutes) <= now() THEN 'session_idle'
    WHEN u.status <> 'active' THEN 'user_inactive'
    WHEN o.status <> 'active' THEN 'organization_inactive'
  END;
  IF failure IS NOT NULL THEN
    RETURN QUERY SELECT failure, s.user_id, NULL::ward.principal_type, s.id, NULL::boolean, NULL::text,
      NULL::text[], NULL::text[], NULL::timestamptz, NULL::timestamptz, NULL::bigint, NULL::jsonb;
    RETURN;
  END IF;
  -- Sliding idle window, written at most every 30 s so reads stay reads.
  IF s.last_seen_at < now() - interval '30 seconds' THEN
    UPDATE ward.sessions x SET last_seen_at = now() WHERE x.organization_id = s.organization_id AND x.id = s.id;
  END IF;
  PERFORM set_config('ward.user_id', u.id::text, true);
  PERFORM set_config('ward.session_id', s.id::text, true);
  RETURN QUERY
    SELECT NULL::text, u.id, u.principal_type, s.id, s.mfa_verified, s.restricted,
           array(SELECT r.name FROM ward.user_roles ur JOIN ward.roles r
                   ON r.organization_id = ur.organization_id AND r.id = ur.role_id
                  WHERE ur.organization_id = u.organization_id AND ur.user_id = u.id ORDER BY r.name),
           array(SELECT DISTINCT rp.permission_id FROM ward.user_roles ur JOIN ward.role_permissions rp
                   ON rp.organization_id = ur.organization_id AND rp.role_id = ur.role_id
                  WHERE ur.organization_id = u.organization_id AND ur.user_id = u.id),
           s.expires_at,
           (SELECT max(b.expires_at) FROM ward.break_glass_sessions b
             WHERE b.organization_id = u.organization_id AND b.user_id = u.id
               AND b.ended_at IS NULL AND b.expires_at > now()),
           o.policy_version, o.settings;
END
$$;

ALTER TABLE ward.break_glass_sessions DROP CONSTRAINT break_glass_sessions_patient_required;
