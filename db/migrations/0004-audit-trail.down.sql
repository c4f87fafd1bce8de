-- Migration: 0004-audit-trail (rollback)
-- Purpose: Remove the audit trail schema. `ward db rollback` refuses, even with --force, while
--          any audit table holds rows: audit data is never dropped by a rollback.
-- Online-safe: no

-- Organizations' roles copied the audit permissions; the owner lifts FORCE RLS for the
-- moment it takes to remove those grants (they exist only because this migration did).
ALTER TABLE ward.role_permissions NO FORCE ROW LEVEL SECURITY;
DELETE FROM ward.role_permissions WHERE permission_id IN ('audit:read', 'audit:verify');
ALTER TABLE ward.role_permissions FORCE ROW LEVEL SECURITY;
DELETE FROM ward.default_role_permissions WHERE permission_id IN ('audit:read', 'audit:verify');
DELETE FROM ward.permissions WHERE id IN ('audit:read', 'audit:verify');
DROP FUNCTION audit.drop_exported_partition(text);
DROP FUNCTION audit.ensure_partitions(date, integer);
DROP TABLE audit.partition_exports;
DROP FUNCTION audit.partition_exports_guard();
DROP TABLE audit.signing_keys;
DROP TABLE audit.checkpoints;
DROP TABLE audit.events;
DROP FUNCTION audit.forbid_change();
DROP SEQUENCE audit.events_id_seq;
ALTER TABLE ward.organizations DROP CONSTRAINT organizations_id_not_platform;
DROP SCHEMA audit;
