-- Migration: 0002-tenancy-and-identity (rollback)
-- Purpose: Remove tenancy and identity tables. Refused by `ward db rollback` while they hold
--          rows, unless forced.
-- Online-safe: no

DROP TABLE ward.sessions;
DROP TABLE ward.user_roles;
DROP TABLE ward.role_permissions;
DROP TABLE ward.roles;
DROP TABLE ward.default_role_permissions;
DROP TABLE ward.permissions;
DROP TABLE ward.users;
DROP TABLE ward.organizations;
DROP TYPE ward.user_status;
DROP TYPE ward.principal_type;
DROP TYPE ward.organization_status;
DROP TYPE ward.organization_type;
