-- Migration: 0013-plan-review-covers-prescriptions
-- Purpose: A treatment plan's review vouches for the plan as it stood, prescriptions included.
--          A plan is always written as an unreviewed draft (it reaches active only by an update
--          that passes clinical.check_plan_change), and a prescription is only added to a plan
--          that is still an unreviewed draft: no medication reaches an active plan unreviewed,
--          whoever writes the rows.
-- Online-safe: yes (new functions and triggers; existing rows are not checked)

CREATE FUNCTION clinical.check_plan_insert() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NEW.status <> 'draft' OR NEW.reviewer_id IS NOT NULL OR NEW.reviewed_at IS NOT NULL THEN
    RAISE EXCEPTION 'a treatment plan is written as an unreviewed draft' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER treatment_plans_insert BEFORE INSERT ON clinical.treatment_plans
  FOR EACH ROW EXECUTE FUNCTION clinical.check_plan_insert();

-- Runs as the writer, under its RLS. The share lock waits for a review or transition in flight
-- and then reads what it committed.
CREATE FUNCTION clinical.check_prescription_insert() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  v_status clinical.plan_status;
  v_reviewer uuid;
BEGIN
  SELECT p.status, p.reviewer_id INTO v_status, v_reviewer
    FROM clinical.treatment_plans p
   WHERE p.organization_id = NEW.organization_id AND p.id = NEW.plan_id
     FOR SHARE;
  -- A plan the writer cannot see is refused by RLS and the foreign key, as before.
  IF NOT FOUND THEN
    RETURN NEW;
  END IF;
  IF v_status <> 'draft' OR v_reviewer IS NOT NULL THEN
    RAISE EXCEPTION 'prescriptions are added to an unreviewed draft plan' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER prescriptions_insert BEFORE INSERT ON clinical.prescriptions
  FOR EACH ROW EXECUTE FUNCTION clinical.check_prescription_insert();
