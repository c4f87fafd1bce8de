-- Migration: 0005-identity-and-access
-- Purpose: MFA factors and recovery codes, login challenges, session hardening, API keys for
--          service accounts and agents, login throttling, access policies (seed 3's
--          policy_access_policies), break-glass, review tasks, security alerts, cross-
--          organization access grants, the in-transaction authentication functions, and the
--          full permission catalog with the built-in roles' baselines.
-- Online-safe: yes (new tables; new nullable or defaulted columns on ward.sessions)

-- Sessions learn how they were established and whether they are limited to MFA enrollment.
ALTER TABLE ward.sessions
  ADD COLUMN restricted text CHECK (restricted IN ('mfa_enrollment')),
  ADD COLUMN auth_method text NOT NULL DEFAULT 'password'
    CHECK (auth_method IN ('password', 'password+totp', 'password+recovery', 'refresh'));
GRANT INSERT (restricted, auth_method) ON ward.sessions TO ward_app;
GRANT UPDATE (restricted) ON ward.sessions TO ward_app;

-- Bumped whenever the organization's access policies change, so compiled policies are cached.
ALTER TABLE ward.organizations ADD COLUMN policy_version bigint NOT NULL DEFAULT 1;

CREATE TABLE ward.mfa_factors (
  organization_id   uuid NOT NULL,
  id                uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id           uuid NOT NULL,
  kind              text NOT NULL DEFAULT 'totp' CHECK (kind = 'totp'),
  secret_encrypted  bytea NOT NULL,
  confirmed_at      timestamptz,
  -- The last TOTP time step accepted: a code is single-use within its window.
  last_used_step    bigint,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, user_id, kind),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE ward.recovery_codes (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL,
  code_hash        bytea NOT NULL CHECK (length(code_hash) = 32),
  used_at          timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX recovery_codes_user_idx ON ward.recovery_codes (organization_id, user_id);

-- The first step of an MFA login: proves the password was right, nothing more.
CREATE TABLE ward.login_challenges (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL,
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  ip               inet,
  user_agent       text CHECK (length(user_agent) <= 512),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  expires_at       timestamptz NOT NULL,
  consumed_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);

-- API keys for service accounts and AI agents (seed 3's agent actors).
CREATE TABLE ward.api_keys (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  principal_id     uuid NOT NULL,
  name             text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  scopes           text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 100),
  expires_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  last_used_at     timestamptz,
  created_by       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, principal_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_principal_idx ON ward.api_keys (organization_id, principal_id);

-- Per-IP and per-account login throttling. Global (keys are hashed IPs and emails) so that an
-- unknown email is throttled exactly like a known one and responses reveal nothing.
CREATE TABLE ward.auth_throttle (
  key_hash           bytea PRIMARY KEY CHECK (length(key_hash) = 32),
  failures           integer NOT NULL DEFAULT 0,
  window_started_at  timestamptz NOT NULL DEFAULT now(),
  blocked_until      timestamptz
);

-- Seed 3's policy_access_policies: JSON documents with conditions on actor, resource, purpose.
CREATE TABLE ward.access_policies (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  name             text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$'),
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
  document         jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
  enabled          boolean NOT NULL DEFAULT true,
  created_by       uuid,
  updated_by       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, name)
);

-- Break-glass (ETREAT): a reasoned, time-boxed emergency override.
CREATE TABLE ward.break_glass_sessions (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL,
  patient_id       uuid,
  reason           text NOT NULL CHECK (length(btrim(reason)) BETWEEN 20 AND 1000),
  started_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  ended_at         timestamptz,
  CHECK (expires_at > started_at AND expires_at <= started_at + interval '4 hours'),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id)
);
CREATE INDEX break_glass_user_idx ON ward.break_glass_sessions (organization_id, user_id, expires_at);

-- Work items for the privacy officer (break-glass reviews first).
CREATE TABLE ward.review_tasks (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  kind             text NOT NULL CHECK (kind IN ('break_glass_review')),
  subject_id       uuid NOT NULL,
  subject_user_id  uuid,
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  summary          text NOT NULL CHECK (length(summary) <= 2000),
  resolution       text CHECK (resolution IN ('appropriate', 'inappropriate', 'needs_follow_up')),
  notes            text CHECK (length(notes) <= 4000),
  closed_by        uuid,
  closed_at        timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'closed') = (closed_at IS NOT NULL AND resolution IS NOT NULL)),
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX review_tasks_open_idx ON ward.review_tasks (organization_id, status, created_at);

-- Security alerts (break-glass use, lockouts; the monitoring module adds detectors).
CREATE TABLE ward.security_alerts (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z_.]{2,63}$'),
  severity         text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  subject_user_id  uuid,
  details          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
  acknowledged_by  uuid,
  acknowledged_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX security_alerts_open_idx ON ward.security_alerts (organization_id, status, created_at);

-- Cross-organization access (seed 2): the owner organization lets a grantee organization act
-- on one patient, for named permissions and purposes, for a bounded time, justified by a
-- record (a prior-authorization request, later). Honoured by ward.grant_allows() in the RLS
-- policies of patient-scoped tables.
CREATE TABLE ward.access_grants (
  organization_id          uuid NOT NULL REFERENCES ward.organizations (id),
  id                       uuid NOT NULL DEFAULT gen_random_uuid(),
  grantee_organization_id  uuid NOT NULL REFERENCES ward.organizations (id),
  patient_id               uuid NOT NULL,
  permissions              text[] NOT NULL CHECK (cardinality(permissions) BETWEEN 1 AND 50),
  purposes                 text[] NOT NULL CHECK (cardinality(purposes) BETWEEN 1 AND 20),
  valid_from               timestamptz NOT NULL DEFAULT now(),
  valid_until              timestamptz NOT NULL,
  justification_type       text NOT NULL CHECK (justification_type ~ '^[a-z][a-z_]{2,63}$'),
  justification_id         uuid NOT NULL,
  created_by               uuid,
  revoked_at               timestamptz,
  revoked_by               uuid,
  created_at               timestamptz NOT NULL DEFAULT now(),
  CHECK (valid_until > valid_from),
  CHECK (grantee_organization_id <> organization_id),
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX access_grants_grantee_idx
  ON ward.access_grants (grantee_organization_id, organization_id, patient_id);

CREATE TRIGGER access_policies_touch BEFORE UPDATE ON ward.access_policies
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

-- Row-level security: tenant isolation on every new tenant table.
ALTER TABLE ward.mfa_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.mfa_factors FORCE ROW LEVEL SECURITY;
CREATE POLICY mfa_factors_tenant ON ward.mfa_factors
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY recovery_codes_tenant ON ward.recovery_codes
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.login_challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.login_challenges FORCE ROW LEVEL SECURITY;
CREATE POLICY login_challenges_tenant ON ward.login_challenges
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON ward.api_keys
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.access_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.access_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY access_policies_tenant ON ward.access_policies
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.break_glass_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.break_glass_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY break_glass_sessions_tenant ON ward.break_glass_sessions
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.review_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.review_tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY review_tasks_tenant ON ward.review_tasks
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.security_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.security_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY security_alerts_tenant ON ward.security_alerts
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

-- Grants: the owner manages them; the grantee may read the grants made to it (and only those).
ALTER TABLE ward.access_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.access_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY access_grants_owner ON ward.access_grants
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY access_grants_grantee ON ward.access_grants FOR SELECT
  USING (grantee_organization_id = (SELECT ward.current_org_id()));

-- Column-listed grants.
GRANT SELECT, DELETE, INSERT (organization_id, id, user_id, kind, secret_encrypted),
      UPDATE (confirmed_at, last_used_step, secret_encrypted)
  ON ward.mfa_factors TO ward_app;
GRANT SELECT, DELETE, INSERT (organization_id, user_id, code_hash), UPDATE (used_at)
  ON ward.recovery_codes TO ward_app;
GRANT SELECT, INSERT (organization_id, id, user_id, token_hash, ip, user_agent, expires_at),
      UPDATE (attempts, consumed_at)
  ON ward.login_challenges TO ward_app;
GRANT SELECT, INSERT (organization_id, id, principal_id, name, token_hash, scopes, expires_at, created_by),
      UPDATE (revoked_at, last_used_at)
  ON ward.api_keys TO ward_app;
GRANT SELECT, DELETE, INSERT (organization_id, name, description, document, enabled, created_by, updated_by),
      UPDATE (name, description, document, enabled, updated_by)
  ON ward.access_policies TO ward_app;
GRANT SELECT, INSERT (organization_id, id, user_id, patient_id, reason, expires_at), UPDATE (ended_at)
  ON ward.break_glass_sessions TO ward_app;
GRANT SELECT, INSERT (organization_id, id, kind, subject_id, subject_user_id, summary),
      UPDATE (status, resolution, notes, closed_by, closed_at)
  ON ward.review_tasks TO ward_app;
GRANT SELECT, INSERT (organization_id, kind, severity, subject_user_id, details),
      UPDATE (status, acknowledged_by, acknowledged_at)
  ON ward.security_alerts TO ward_app;
GRANT SELECT, INSERT (organization_id, id, grantee_organization_id, patient_id, permissions, purposes,
                      valid_from, valid_until, justification_type, justification_id, created_by),
      UPDATE (revoked_at, revoked_by)
  ON ward.access_grants TO ward_app;
GRANT SELECT ON ward.review_tasks, ward.security_alerts, ward.break_glass_sessions, ward.access_grants,
                ward.access_policies TO ward_auditor;
GRANT SELECT, INSERT, UPDATE, DELETE ON ward.mfa_factors, ward.recovery_codes, ward.login_challenges,
      ward.api_keys, ward.access_policies, ward.break_glass_sessions, ward.review_tasks,
      ward.security_alerts, ward.access_grants, ward.auth_throttle TO ward_system;
GRANT UPDATE (policy_version) ON ward.organizations TO ward_app;

-- Any change to an organization's policies bumps its policy_version (cache invalidation).
CREATE FUNCTION ward.bump_policy_version() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  UPDATE ward.organizations SET policy_version = policy_version + 1
   WHERE id = coalesce(NEW.organization_id, OLD.organization_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER access_policies_version AFTER INSERT OR UPDATE OR DELETE ON ward.access_policies
  FOR EACH ROW EXECUTE FUNCTION ward.bump_policy_version();

-- True when the caller's organization holds a live grant from `p_owner` for this patient,
-- permission and the transaction's purpose of use. Patient-scoped tables use it in their RLS
-- policies: `USING (organization_id = (SELECT ward.current_org_id())
--                   OR ward.grant_allows(organization_id, patient_id, 'patient:read'))`.
CREATE FUNCTION ward.grant_allows(p_owner uuid, p_patient uuid, p_permission text) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
  AS $$
  SELECT EXISTS (
    SELECT 1 FROM ward.access_grants g
     WHERE g.organization_id = p_owner
       AND g.grantee_organization_id = ward.current_org_id()
       AND g.patient_id = p_patient
       AND p_permission = ANY (g.permissions)
       AND ward.current_purpose() = ANY (g.purposes)
       AND g.revoked_at IS NULL
       AND now() >= g.valid_from AND now() < g.valid_until)
$$;

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

-- The same for API keys. The key's principal must be a service account or agent; its
-- permissions are the key's scopes intersected with what the principal's roles hold now.
CREATE FUNCTION ward.authenticate_api_key(p_key_id uuid, p_token_hash bytea)
  RETURNS TABLE (failure text, user_id uuid, principal_type ward.principal_type, api_key_id uuid,
                 roles text[], permissions text[], expires_at timestamptz, policy_version bigint,
                 settings jsonb)
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  k ward.api_keys%ROWTYPE;
  u ward.users%ROWTYPE;
  o ward.organizations%ROWTYPE;
BEGIN
  SELECT * INTO k FROM ward.api_keys x WHERE x.organization_id = ward.current_org_id() AND x.id = p_key_id;
  IF NOT FOUND OR k.token_hash <> p_token_hash THEN
    RETURN QUERY SELECT 'unknown_key'::text, NULL::uuid, NULL::ward.principal_type, NULL::uuid, NULL::text[],
      NULL::text[], NULL::timestamptz, NULL::bigint, NULL::jsonb;
    RETURN;
  END IF;
  SELECT * INTO o FROM ward.organizations x WHERE x.id = k.organization_id;
  SELECT * INTO u FROM ward.users x WHERE x.organization_id = k.organization_id AND x.id = k.principal_id;
  failure := CASE
    WHEN k.revoked_at IS NOT NULL THEN 'key_revoked'
    WHEN k.expires_at <= now() THEN 'key_expired'
    WHEN u.status <> 'active' THEN 'user_inactive'
    WHEN o.status <> 'active' THEN 'organization_inactive'
  END;
  IF failure IS NOT NULL THEN
    RETURN QUERY SELECT failure, k.principal_id, NULL::ward.principal_type, k.id, NULL::text[], NULL::text[],
      NULL::timestamptz, NULL::bigint, NULL::jsonb;
    RETURN;
  END IF;
  IF k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds' THEN
    UPDATE ward.api_keys x SET last_used_at = now() WHERE x.organization_id = k.organization_id AND x.id = k.id;
  END IF;
  PERFORM set_config('ward.user_id', u.id::text, true);
  RETURN QUERY
    SELECT NULL::text, u.id, u.principal_type, k.id,
           array(SELECT r.name FROM ward.user_roles ur JOIN ward.roles r
                   ON r.organization_id = ur.organization_id AND r.id = ur.role_id
                  WHERE ur.organization_id = u.organization_id AND ur.user_id = u.id ORDER BY r.name),
           array(SELECT DISTINCT rp.permission_id FROM ward.user_roles ur JOIN ward.role_permissions rp
                   ON rp.organization_id = ur.organization_id AND rp.role_id = ur.role_id
                  WHERE ur.organization_id = u.organization_id AND ur.user_id = u.id
                    AND rp.permission_id = ANY (k.scopes)),
           k.expires_at, o.policy_version, o.settings;
END
$$;

-- Lifts the login throttle of one of the caller's own users (the unlock path). SECURITY
-- DEFINER because the throttle table is global; it touches only the key of an email that
-- belongs to the caller's organization, which RLS on ward.users decides.
CREATE FUNCTION ward.clear_account_throttle(p_user_id uuid) RETURNS void
  LANGUAGE sql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$
  DELETE FROM ward.auth_throttle t
   USING ward.users u
   WHERE u.id = p_user_id AND u.organization_id = ward.current_org_id()
     AND t.key_hash = sha256(convert_to('acct:' || u.email, 'UTF8'))
$$;
REVOKE ALL ON FUNCTION ward.clear_account_throttle(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ward.clear_account_throttle(uuid) TO ward_app;

-- The permission catalog for every domain, and the built-in roles' baselines.
INSERT INTO ward.permissions (id, resource, action, description) VALUES
  ('patient:create', 'patient', 'create', 'Register patients'),
  ('patient:read', 'patient', 'read', 'Read patient records (PHI, purpose required)'),
  ('patient:update', 'patient', 'update', 'Change patient records'),
  ('patient:search', 'patient', 'search', 'Find patients by identifiers'),
  ('case:create', 'case', 'create', 'Open medical cases'),
  ('case:read', 'case', 'read', 'Read medical cases'),
  ('case:update', 'case', 'update', 'Work medical cases'),
  ('diagnosis:create', 'diagnosis', 'create', 'Record or suggest diagnoses'),
  ('diagnosis:read', 'diagnosis', 'read', 'Read diagnoses'),
  ('diagnosis:update', 'diagnosis', 'update', 'Confirm, reject or revise diagnoses'),
  ('image:create', 'image', 'create', 'Upload medical images'),
  ('image:read', 'image', 'read', 'Download medical images'),
  ('treatment_plan:create', 'treatment_plan', 'create', 'Write treatment plans'),
  ('treatment_plan:read', 'treatment_plan', 'read', 'Read treatment plans'),
  ('treatment_plan:update', 'treatment_plan', 'update', 'Change and review treatment plans'),
  ('medication:read', 'medication', 'read', 'Read the medication catalog'),
  ('prescription:create', 'prescription', 'create', 'Prescribe medications in plans'),
  ('report:read', 'report', 'read', 'Run compliance and access reports'),
  ('analytics:read', 'analytics', 'read', 'Read de-identified aggregates'),
  ('prior_auth:create', 'prior_auth', 'create', 'Submit prior-authorization requests'),
  ('prior_auth:read', 'prior_auth', 'read', 'Read prior-authorization requests'),
  ('prior_auth:decide', 'prior_auth', 'decide', 'Decide prior-authorization requests'),
  ('claim:create', 'claim', 'create', 'Submit claims'),
  ('claim:read', 'claim', 'read', 'Read claims'),
  ('claim:adjudicate', 'claim', 'adjudicate', 'Adjudicate claims'),
  ('fraud:read', 'fraud', 'read', 'Read fraud rules and detections'),
  ('fraud:manage', 'fraud', 'manage', 'Manage fraud rules and investigations'),
  ('ai_model:read', 'ai_model', 'read', 'Read the AI model registry'),
  ('ai_model:manage', 'ai_model', 'manage', 'Register and deploy AI models'),
  ('compliance:read', 'compliance', 'read', 'Read compliance violations'),
  ('compliance:manage', 'compliance', 'manage', 'Investigate and resolve compliance violations'),
  ('policy_record:create', 'policy_record', 'create', 'Create insurance policy records'),
  ('policy_record:read', 'policy_record', 'read', 'Read insurance policy records (PHI, purpose required)'),
  ('policy_record:update', 'policy_record', 'update', 'Change insurance policy records'),
  ('policy_record:delete', 'policy_record', 'delete', 'Delete insurance policy records'),
  ('access_policy:read', 'access_policy', 'read', 'Read access policies'),
  ('access_policy:manage', 'access_policy', 'manage', 'Create and change access policies'),
  ('key:read', 'key', 'read', 'Read encryption key status'),
  ('key:manage', 'key', 'manage', 'Rotate, rewrap and retire encryption keys'),
  ('api_key:read', 'api_key', 'read', 'List API keys'),
  ('api_key:manage', 'api_key', 'manage', 'Create and revoke API keys'),
  ('session:read', 'session', 'read', 'List other users'' sessions'),
  ('session:revoke', 'session', 'revoke', 'Revoke other users'' sessions'),
  ('grant:read', 'grant', 'read', 'Read cross-organization access grants'),
  ('grant:manage', 'grant', 'manage', 'Create and revoke cross-organization access grants'),
  ('break_glass:invoke', 'break_glass', 'invoke', 'Start an emergency-access (ETREAT) session'),
  ('review_task:read', 'review_task', 'read', 'Read privacy review tasks'),
  ('review_task:close', 'review_task', 'close', 'Resolve privacy review tasks'),
  ('alert:read', 'alert', 'read', 'Read security alerts'),
  ('alert:manage', 'alert', 'manage', 'Acknowledge and resolve security alerts');

INSERT INTO ward.default_role_permissions (role_name, permission_id)
SELECT 'admin', unnest(ARRAY['access_policy:read', 'access_policy:manage', 'key:read', 'key:manage',
  'api_key:read', 'api_key:manage', 'session:read', 'session:revoke', 'grant:read', 'grant:manage',
  'alert:read', 'medication:read'])
UNION ALL SELECT 'doctor', unnest(ARRAY['patient:create', 'patient:read', 'patient:update', 'patient:search',
  'case:create', 'case:read', 'case:update', 'diagnosis:create', 'diagnosis:read', 'diagnosis:update',
  'image:create', 'image:read', 'treatment_plan:create', 'treatment_plan:read', 'treatment_plan:update',
  'medication:read', 'prescription:create', 'break_glass:invoke'])
UNION ALL SELECT 'nurse', unnest(ARRAY['patient:create', 'patient:read', 'patient:update', 'patient:search',
  'case:create', 'case:read', 'case:update', 'diagnosis:read', 'image:create', 'image:read',
  'treatment_plan:read', 'medication:read', 'break_glass:invoke'])
UNION ALL SELECT 'auditor', unnest(ARRAY['report:read', 'review_task:read', 'review_task:close',
  'alert:read', 'alert:manage', 'access_policy:read', 'grant:read', 'key:read', 'compliance:read'])
UNION ALL SELECT 'analyst', unnest(ARRAY['analytics:read', 'report:read'])
UNION ALL SELECT 'reviewer', unnest(ARRAY['prior_auth:read', 'prior_auth:decide', 'claim:read', 'patient:read',
  'patient:search', 'fraud:read']);

-- Existing organizations' built-in roles receive the new baseline (new ones get it at creation).
-- A data step across tenants: under forced RLS the owner sees no rows, so it runs as the
-- system role (the migrator's session is a superuser and may switch to it).
SET LOCAL ROLE ward_system;
INSERT INTO ward.role_permissions (organization_id, role_id, permission_id)
SELECT r.organization_id, r.id, d.permission_id
  FROM ward.roles r JOIN ward.default_role_permissions d ON d.role_name = r.name
 WHERE r.is_builtin
ON CONFLICT DO NOTHING;
SET LOCAL ROLE ward_owner;
