-- Migration: 0022-encrypt-free-text (rollback)
-- Purpose: Free text goes back to its plaintext columns only. A value that exists only as
--          ciphertext cannot be decrypted here (the keys are outside the database) and the
--          previous release cannot read it, so the rollback stops, naming how many such values
--          there are, unless every row still holds its plaintext form (right after migrating).
-- Online-safe: no (the service must be downgraded with it)

-- The owner runs this under FORCE ROW LEVEL SECURITY and no organization context, which would
-- hide every row from the count below (and let a forced rollback drop encrypted free text):
-- lift it on the counted tables for this transaction only.
ALTER TABLE clinical.medical_cases NO FORCE ROW LEVEL SECURITY;
ALTER TABLE clinical.diagnoses NO FORCE ROW LEVEL SECURITY;
ALTER TABLE clinical.treatment_plans NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ward.break_glass_sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ward.review_tasks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ward.security_alerts NO FORCE ROW LEVEL SECURITY;

DO $$
DECLARE
  sealed bigint;
BEGIN
  SELECT (SELECT count(*) FROM clinical.medical_cases
           WHERE symptoms_encrypted IS NOT NULL OR tags_encrypted IS NOT NULL)
       + (SELECT count(*) FROM clinical.diagnoses
           WHERE evidence_encrypted IS NOT NULL OR decision_reason_encrypted IS NOT NULL)
       + (SELECT count(*) FROM clinical.treatment_plans
           WHERE title_encrypted IS NOT NULL OR goals_encrypted IS NOT NULL
              OR interventions_encrypted IS NOT NULL OR schedule_encrypted IS NOT NULL)
       + (SELECT count(*) FROM ward.break_glass_sessions WHERE reason_encrypted IS NOT NULL)
       + (SELECT count(*) FROM ward.review_tasks
           WHERE summary_encrypted IS NOT NULL OR notes_encrypted IS NOT NULL)
       + (SELECT count(*) FROM ward.security_alerts WHERE notes_encrypted IS NOT NULL)
    INTO sealed;
  IF sealed > 0 THEN
    RAISE EXCEPTION '% row(s) hold free text only in encrypted form, which the previous release cannot read; 0022 cannot be rolled back', sealed;
  END IF;
END
$$;

ALTER TABLE clinical.medical_cases FORCE ROW LEVEL SECURITY;
ALTER TABLE clinical.diagnoses FORCE ROW LEVEL SECURITY;
ALTER TABLE clinical.treatment_plans FORCE ROW LEVEL SECURITY;
ALTER TABLE ward.break_glass_sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE ward.review_tasks FORCE ROW LEVEL SECURITY;
ALTER TABLE ward.security_alerts FORCE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION ward.guard_alert_lifecycle() RETURNS trigger
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

REVOKE UPDATE (title_encrypted, goals_encrypted, interventions_encrypted, schedule_encrypted,
               title, goals, interventions, schedule)
  ON clinical.treatment_plans FROM ward_system;
REVOKE UPDATE (evidence_encrypted, decision_reason_encrypted, evidence, decision_reason)
  ON clinical.diagnoses FROM ward_system;
REVOKE UPDATE (symptoms_encrypted, tags_encrypted, symptoms, tags) ON clinical.medical_cases FROM ward_system;

REVOKE UPDATE (notes_encrypted) ON ward.security_alerts FROM ward_app;
GRANT UPDATE (notes) ON ward.security_alerts TO ward_app;
REVOKE INSERT (summary_encrypted), UPDATE (notes_encrypted) ON ward.review_tasks FROM ward_app;
GRANT INSERT (summary), UPDATE (notes) ON ward.review_tasks TO ward_app;
REVOKE INSERT (reason_encrypted) ON ward.break_glass_sessions FROM ward_app;
GRANT INSERT (reason) ON ward.break_glass_sessions TO ward_app;
REVOKE INSERT (title_encrypted, goals_encrypted, interventions_encrypted, schedule_encrypted)
  ON clinical.treatment_plans FROM ward_app;
GRANT INSERT (title, goals, interventions, schedule), UPDATE (title, goals, interventions, schedule)
  ON clinical.treatment_plans TO ward_app;
REVOKE INSERT (evidence_encrypted, decision_reason_encrypted), UPDATE (decision_reason_encrypted)
  ON clinical.diagnoses FROM ward_app;
GRANT INSERT (evidence, decision_reason), UPDATE (decision_reason) ON clinical.diagnoses TO ward_app;
REVOKE INSERT (symptoms_encrypted, tags_encrypted) ON clinical.medical_cases FROM ward_app;
GRANT INSERT (symptoms, tags), UPDATE (symptoms, tags) ON clinical.medical_cases TO ward_app;

COMMENT ON COLUMN clinical.medical_cases.symptoms IS NULL;
COMMENT ON COLUMN clinical.medical_cases.tags IS NULL;
COMMENT ON COLUMN clinical.diagnoses.evidence IS NULL;
COMMENT ON COLUMN clinical.diagnoses.decision_reason IS NULL;
COMMENT ON COLUMN clinical.treatment_plans.title IS NULL;
COMMENT ON COLUMN clinical.treatment_plans.goals IS NULL;
COMMENT ON COLUMN clinical.treatment_plans.interventions IS NULL;
COMMENT ON COLUMN clinical.treatment_plans.schedule IS NULL;
COMMENT ON COLUMN ward.break_glass_sessions.reason IS NULL;
COMMENT ON COLUMN ward.review_tasks.summary IS NULL;
COMMENT ON COLUMN ward.review_tasks.notes IS NULL;
COMMENT ON COLUMN ward.security_alerts.notes IS NULL;

ALTER TABLE ward.security_alerts
  DROP CONSTRAINT security_alerts_notes_encrypted_size,
  DROP CONSTRAINT security_alerts_notes_one_form,
  DROP COLUMN notes_encrypted;

ALTER TABLE ward.review_tasks
  DROP CONSTRAINT review_tasks_notes_encrypted_size,
  DROP CONSTRAINT review_tasks_notes_one_form,
  DROP CONSTRAINT review_tasks_summary_encrypted_size,
  DROP CONSTRAINT review_tasks_summary_one_form,
  DROP COLUMN notes_encrypted,
  DROP COLUMN summary_encrypted,
  ALTER COLUMN summary SET NOT NULL;

ALTER TABLE ward.break_glass_sessions
  DROP CONSTRAINT break_glass_sessions_reason_encrypted_size,
  DROP CONSTRAINT break_glass_sessions_reason_one_form,
  DROP COLUMN reason_encrypted,
  ALTER COLUMN reason SET NOT NULL;

ALTER TABLE clinical.treatment_plans
  DROP CONSTRAINT treatment_plans_schedule_one_form,
  DROP CONSTRAINT treatment_plans_interventions_one_form,
  DROP CONSTRAINT treatment_plans_goals_one_form,
  DROP CONSTRAINT treatment_plans_title_encrypted_size,
  DROP CONSTRAINT treatment_plans_title_one_form,
  DROP COLUMN schedule_encrypted,
  DROP COLUMN interventions_encrypted,
  DROP COLUMN goals_encrypted,
  DROP COLUMN title_encrypted,
  ALTER COLUMN schedule SET DEFAULT '{}',
  ALTER COLUMN schedule SET NOT NULL,
  ALTER COLUMN interventions SET DEFAULT '[]',
  ALTER COLUMN interventions SET NOT NULL,
  ALTER COLUMN goals SET DEFAULT '[]',
  ALTER COLUMN goals SET NOT NULL,
  ALTER COLUMN title SET NOT NULL;

ALTER TABLE clinical.diagnoses
  DROP CONSTRAINT diagnoses_decision_reason_required,
  ADD CONSTRAINT diagnoses_check2 CHECK (status NOT IN ('rejected', 'revised') OR decision_reason IS NOT NULL),
  DROP CONSTRAINT diagnoses_decision_reason_encrypted_size,
  DROP CONSTRAINT diagnoses_decision_reason_one_form,
  DROP CONSTRAINT diagnoses_evidence_one_form,
  DROP COLUMN decision_reason_encrypted,
  DROP COLUMN evidence_encrypted,
  ALTER COLUMN evidence SET DEFAULT '{}',
  ALTER COLUMN evidence SET NOT NULL;

ALTER TABLE clinical.medical_cases
  DROP CONSTRAINT medical_cases_tags_one_form,
  DROP CONSTRAINT medical_cases_symptoms_one_form,
  DROP COLUMN tags_encrypted,
  DROP COLUMN symptoms_encrypted,
  ALTER COLUMN tags SET DEFAULT '{}',
  ALTER COLUMN tags SET NOT NULL,
  ALTER COLUMN symptoms SET DEFAULT '[]',
  ALTER COLUMN symptoms SET NOT NULL;
