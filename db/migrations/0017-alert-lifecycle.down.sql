-- Migration: 0017-alert-lifecycle (rollback)
-- Purpose: Alerts lose their resolution details (the audit events `security_alert.acknowledge`
--          and `security_alert.resolve` keep them) and the lifecycle guard; their status stays.
-- Online-safe: yes (the service must be downgraded with it)

REVOKE UPDATE (resolved_by, resolved_at, resolution, notes) ON ward.security_alerts FROM ward_app;
DROP TRIGGER security_alerts_lifecycle ON ward.security_alerts;
DROP FUNCTION ward.guard_alert_lifecycle();
ALTER TABLE ward.security_alerts DROP CONSTRAINT security_alerts_lifecycle_check;
ALTER TABLE ward.security_alerts
  DROP COLUMN notes,
  DROP COLUMN resolution,
  DROP COLUMN resolved_at,
  DROP COLUMN resolved_by;
