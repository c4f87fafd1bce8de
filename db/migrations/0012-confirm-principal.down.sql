-- Migration: 0012-confirm-principal (rollback)
-- Purpose: Remove ward.refuse_principal and the auth_version counter with its triggers; every
--          request authenticates in full again.
-- Online-safe: yes (a server that still calls the functions must be stopped first)

DROP FUNCTION ward.refuse_principal(text);
DROP TRIGGER users_auth_version ON ward.users;
DROP TRIGGER break_glass_auth_version ON ward.break_glass_sessions;
DROP TRIGGER roles_auth_version ON ward.roles;
DROP TRIGGER role_permissions_auth_version ON ward.role_permissions;
DROP TRIGGER user_roles_auth_version ON ward.user_roles;
DROP FUNCTION ward.bump_auth_version();
DROP TRIGGER organizations_auth_version ON ward.organizations;
DROP FUNCTION ward.guard_auth_version();
REVOKE SELECT (auth_version) ON ward.organizations FROM ward_auditor;
REVOKE SELECT (auth_version), UPDATE (auth_version) ON ward.organizations FROM ward_app, ward_system;
ALTER TABLE ward.organizations DROP COLUMN auth_version;
