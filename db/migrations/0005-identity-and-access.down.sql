-- Migration: 0005-identity-and-access (rollback)
-- Purpose: Remove MFA, API keys, throttling, access policies, break-glass, review tasks,
--          alerts, grants, the authentication functions and the extended permission catalog.
--          Refused while these tables hold rows, unless forced.
-- Online-safe: no

-- What 0002 and 0004 put in the catalog stays: only 0005's own permissions go.
SET LOCAL ROLE ward_system;
DELETE FROM ward.role_permissions WHERE permission_id NOT IN (
  'organization:read', 'organization:update', 'user:read', 'user:create', 'user:update', 'role:read', 'role:manage',
  'audit:read', 'audit:verify');
SET LOCAL ROLE ward_owner;
DELETE FROM ward.default_role_permissions WHERE permission_id NOT IN (
  'organization:read', 'organization:update', 'user:read', 'user:create', 'user:update', 'role:read', 'role:manage',
  'audit:read', 'audit:verify');
DELETE FROM ward.permissions WHERE id NOT IN (
  'organization:read', 'organization:update', 'user:read', 'user:create', 'user:update', 'role:read', 'role:manage',
  'audit:read', 'audit:verify');

DROP FUNCTION ward.clear_account_throttle(uuid);
DROP FUNCTION ward.authenticate_api_key(uuid, bytea);
DROP FUNCTION ward.authenticate_session(uuid, bytea);
DROP FUNCTION ward.grant_allows(uuid, uuid, text);
DROP TRIGGER access_policies_version ON ward.access_policies;
DROP FUNCTION ward.bump_policy_version();
DROP TABLE ward.access_grants;
DROP TABLE ward.security_alerts;
DROP TABLE ward.review_tasks;
DROP TABLE ward.break_glass_sessions;
DROP TABLE ward.access_policies;
DROP TABLE ward.auth_throttle;
DROP TABLE ward.api_keys;
DROP TABLE ward.login_challenges;
DROP TABLE ward.recovery_codes;
DROP TABLE ward.mfa_factors;
REVOKE UPDATE (policy_version) ON ward.organizations FROM ward_app;
ALTER TABLE ward.organizations DROP COLUMN policy_version;
REVOKE INSERT (restricted, auth_method), UPDATE (restricted) ON ward.sessions FROM ward_app;
ALTER TABLE ward.sessions DROP COLUMN auth_method, DROP COLUMN restricted;
