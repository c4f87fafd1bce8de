-- Migration: 0002-tenancy-and-identity
-- Purpose: Organizations, users (people, service accounts, agents), per-organization roles,
--          the permission catalog, role and user mappings, and sessions (seeds 1 and 2).
-- Online-safe: yes (creates new objects only)

CREATE TYPE ward.organization_type AS ENUM ('provider', 'insurer', 'administrator', 'auditor');
CREATE TYPE ward.organization_status AS ENUM ('active', 'suspended', 'closed');
CREATE TYPE ward.principal_type AS ENUM ('human', 'service', 'agent');
CREATE TYPE ward.user_status AS ENUM ('active', 'disabled', 'locked', 'pending');

-- The tenant itself. Its own id is the tenant key, and a request sees only its own row.
CREATE TABLE ward.organizations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  type        ward.organization_type NOT NULL,
  tax_id      text CHECK (tax_id ~ '^[0-9A-Za-z-]{2,32}$'),
  status      ward.organization_status NOT NULL DEFAULT 'active',
  settings    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Principals. Email is unique across Ward because login takes only an email and a password.
CREATE TABLE ward.users (
  organization_id        uuid NOT NULL REFERENCES ward.organizations (id),
  id                     uuid NOT NULL DEFAULT gen_random_uuid(),
  email                  text NOT NULL
                           CHECK (email = lower(email) AND length(email) <= 254
                                  AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  display_name           text CHECK (length(display_name) <= 200),
  principal_type         ward.principal_type NOT NULL DEFAULT 'human',
  license_number         text CHECK (length(license_number) <= 64),
  license_jurisdiction   text CHECK (length(license_jurisdiction) <= 64),
  status                 ward.user_status NOT NULL DEFAULT 'active',
  password_hash          text,
  password_changed_at    timestamptz,
  failed_login_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_login_attempts >= 0),
  locked_until           timestamptz,
  last_login_at          timestamptz,
  last_login_ip          inet,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);
CREATE UNIQUE INDEX users_email_key ON ward.users (email);

-- Global permission catalog: `resource:action`.
CREATE TABLE ward.permissions (
  id           text PRIMARY KEY CHECK (id ~ '^[a-z][a-z_]*:[a-z][a-z_]*$'),
  resource     text NOT NULL,
  action       text NOT NULL,
  description  text NOT NULL,
  CHECK (id = resource || ':' || action)
);

-- The baseline each new organization's built-in roles start from (copied, then tightenable).
CREATE TABLE ward.default_role_permissions (
  role_name      text NOT NULL,
  permission_id  text NOT NULL REFERENCES ward.permissions (id),
  PRIMARY KEY (role_name, permission_id)
);

CREATE TABLE ward.roles (
  organization_id  uuid NOT NULL REFERENCES ward.organizations (id),
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  name             text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{1,62}$'),
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  is_builtin       boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, name)
);

CREATE TABLE ward.role_permissions (
  organization_id  uuid NOT NULL,
  role_id          uuid NOT NULL,
  permission_id    text NOT NULL REFERENCES ward.permissions (id),
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, role_id, permission_id),
  FOREIGN KEY (organization_id, role_id) REFERENCES ward.roles (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE ward.user_roles (
  organization_id  uuid NOT NULL,
  user_id          uuid NOT NULL,
  role_id          uuid NOT NULL,
  granted_by       uuid,
  granted_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id, role_id),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, role_id) REFERENCES ward.roles (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX user_roles_role_idx ON ward.user_roles (organization_id, role_id);

-- Sessions hold only a hash of their token (seed 2), so a database read cannot hijack one.
CREATE TABLE ward.sessions (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL,
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  ip               inet,
  user_agent       text CHECK (length(user_agent) <= 512),
  mfa_verified     boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_reason   text CHECK (length(revoked_reason) <= 200),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX sessions_token_hash_key ON ward.sessions (token_hash);
CREATE INDEX sessions_user_idx ON ward.sessions (organization_id, user_id);

CREATE TRIGGER organizations_touch BEFORE UPDATE ON ward.organizations
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();
CREATE TRIGGER users_touch BEFORE UPDATE ON ward.users
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();
CREATE TRIGGER roles_touch BEFORE UPDATE ON ward.roles
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

-- Row-level security: enabled and forced (so the owner is bound too), policies before grants.
ALTER TABLE ward.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_own ON ward.organizations
  USING (id = (SELECT ward.current_org_id()))
  WITH CHECK (id = (SELECT ward.current_org_id()));

ALTER TABLE ward.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON ward.users
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.roles FORCE ROW LEVEL SECURITY;
CREATE POLICY roles_tenant ON ward.roles
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.role_permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.role_permissions FORCE ROW LEVEL SECURITY;
CREATE POLICY role_permissions_tenant ON ward.role_permissions
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.user_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.user_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY user_roles_tenant ON ward.user_roles
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE ward.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions_tenant ON ward.sessions
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

-- Grants. Column lists on INSERT/UPDATE keep counters, hashes and keys out of reach of a
-- request that only meant to edit a profile.
GRANT SELECT ON ward.permissions, ward.default_role_permissions TO ward_app, ward_auditor, ward_system;
GRANT SELECT, UPDATE (name, tax_id, settings, metadata) ON ward.organizations TO ward_app;
GRANT SELECT ON ward.organizations TO ward_auditor;
GRANT SELECT, INSERT, UPDATE ON ward.organizations TO ward_system;

GRANT SELECT ON ward.users TO ward_app, ward_auditor;
GRANT INSERT (organization_id, id, email, display_name, principal_type, license_number,
              license_jurisdiction, status, password_hash, password_changed_at)
  ON ward.users TO ward_app;
GRANT UPDATE (display_name, license_number, license_jurisdiction, status, password_hash,
              password_changed_at, failed_login_attempts, locked_until, last_login_at, last_login_ip)
  ON ward.users TO ward_app;
GRANT SELECT, INSERT, UPDATE ON ward.users TO ward_system;

GRANT SELECT, INSERT, UPDATE (name, description), DELETE ON ward.roles TO ward_app;
GRANT SELECT, INSERT, DELETE ON ward.role_permissions, ward.user_roles TO ward_app;
GRANT SELECT ON ward.roles, ward.role_permissions, ward.user_roles TO ward_auditor;
GRANT SELECT, INSERT, UPDATE, DELETE ON ward.roles, ward.role_permissions, ward.user_roles TO ward_system;

GRANT SELECT, INSERT (organization_id, id, user_id, token_hash, ip, user_agent, mfa_verified, expires_at),
      UPDATE (last_seen_at, mfa_verified, revoked_at, revoked_reason)
  ON ward.sessions TO ward_app;
GRANT SELECT, INSERT, UPDATE ON ward.sessions TO ward_system;

COMMENT ON TABLE ward.permissions IS
  'Permission catalog, resource:action. ward:reference-data (rows come from migrations)';
COMMENT ON TABLE ward.default_role_permissions IS
  'Baseline permissions of the built-in roles. ward:reference-data (rows come from migrations)';

-- Baseline permissions for tenancy and identity; later migrations extend the catalog.
INSERT INTO ward.permissions (id, resource, action, description) VALUES
  ('organization:read',   'organization', 'read',   'Read the organization profile and settings'),
  ('organization:update', 'organization', 'update', 'Change the organization profile and settings'),
  ('user:read',           'user',         'read',   'List and read users of the organization'),
  ('user:create',         'user',         'create', 'Create users, service accounts and agents'),
  ('user:update',         'user',         'update', 'Change users, disable them, reset lockouts'),
  ('role:read',           'role',         'read',   'List roles and their permissions'),
  ('role:manage',         'role',         'manage', 'Create roles and change role assignments');

INSERT INTO ward.default_role_permissions (role_name, permission_id) VALUES
  ('admin', 'organization:read'), ('admin', 'organization:update'),
  ('admin', 'user:read'), ('admin', 'user:create'), ('admin', 'user:update'),
  ('admin', 'role:read'), ('admin', 'role:manage'),
  ('doctor', 'organization:read'), ('nurse', 'organization:read'),
  ('auditor', 'organization:read'), ('auditor', 'user:read'), ('auditor', 'role:read'),
  ('analyst', 'organization:read'), ('reviewer', 'organization:read');
