-- Migration: 0017-alert-lifecycle
-- Purpose: Security alerts can be acknowledged and resolved (permission alert:manage, which
--          existed without a route). Resolution, notes, resolver and time are recorded; the
--          lifecycle only moves forward (open → acknowledged → resolved, or open → resolved),
--          who acknowledged or resolved never changes once set, the person an alert is about
--          never handles it, and a request can only record itself as the handler.
-- Online-safe: yes (new nullable columns, a check every existing row satisfies, a trigger)

ALTER TABLE ward.security_alerts
  ADD COLUMN resolved_by uuid,
  ADD COLUMN resolved_at timestamptz,
  ADD COLUMN resolution text CHECK (resolution IN ('true_positive', 'false_positive', 'benign')),
  ADD COLUMN notes text CHECK (length(notes) <= 4000);

ALTER TABLE ward.security_alerts ADD CONSTRAINT security_alerts_lifecycle_check CHECK (
  CASE status
    WHEN 'open' THEN acknowledged_at IS NULL AND acknowledged_by IS NULL AND resolved_at IS NULL
                     AND resolved_by IS NULL AND resolution IS NULL
    WHEN 'acknowledged' THEN acknowledged_at IS NOT NULL AND acknowledged_by IS NOT NULL
                             AND resolved_at IS NULL AND resolved_by IS NULL AND resolution IS NULL
    ELSE resolved_at IS NOT NULL AND resolved_by IS NOT NULL AND resolution IS NOT NULL
  END);

CREATE FUNCTION ward.guard_alert_lifecycle() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NEW.organization_id IS DISTINCT FROM OLD.organization_id OR NEW.id IS DISTINCT FROM OLD.id
     OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.severity IS DISTINCT FROM OLD.severity
     OR NEW.subject_user_id IS DISTINCT FROM OLD.subject_user_id
     OR NEW.details IS DISTINCT FROM OLD.details OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION 'what a security alert reports never changes' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF (OLD.status = 'resolved' AND (NEW.status <> 'resolved' OR NEW.resolved_by IS DISTINCT FROM OLD.resolved_by
                                   OR NEW.resolved_at IS DISTINCT FROM OLD.resolved_at
                                   OR NEW.resolution IS DISTINCT FROM OLD.resolution
                                   OR NEW.notes IS DISTINCT FROM OLD.notes))
     OR (OLD.status = 'acknowledged' AND NEW.status = 'open')
     OR (OLD.acknowledged_by IS NOT NULL AND (NEW.acknowledged_by IS DISTINCT FROM OLD.acknowledged_by
                                              OR NEW.acknowledged_at IS DISTINCT FROM OLD.acknowledged_at)) THEN
    RAISE EXCEPTION 'a security alert''s lifecycle only moves forward' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.subject_user_id IS NOT NULL
     AND (NEW.subject_user_id = NEW.acknowledged_by OR NEW.subject_user_id = NEW.resolved_by) THEN
    RAISE EXCEPTION 'nobody handles a security alert about themselves' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF ward.current_user_id() IS NOT NULL
     AND ((NEW.acknowledged_by IS DISTINCT FROM OLD.acknowledged_by AND NEW.acknowledged_by <> ward.current_user_id())
          OR (NEW.resolved_by IS DISTINCT FROM OLD.resolved_by AND NEW.resolved_by <> ward.current_user_id())) THEN
    RAISE EXCEPTION 'a request records only its own user as an alert''s handler' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION ward.guard_alert_lifecycle() FROM PUBLIC;
CREATE TRIGGER security_alerts_lifecycle BEFORE UPDATE ON ward.security_alerts
  FOR EACH ROW EXECUTE FUNCTION ward.guard_alert_lifecycle();

GRANT UPDATE (resolved_by, resolved_at, resolution, notes) ON ward.security_alerts TO ward_app;
