-- Migration: 0022-encrypt-free-text
-- Purpose: Encrypt free text like every other PHI field: a case's symptoms and tags, a
--          diagnosis's evidence and decision reason, a plan's title, goals, interventions and
--          schedule, a break-glass reason, its review task's summary and notes, and an alert's
--          notes. Each gets a `*_encrypted bytea` column; its plaintext column becomes a legacy
--          column that `ward keys rewrap` empties, and that requests can no longer write.
-- Online-safe: yes (nullable columns without a default, dropped NOT NULLs and defaults, checks
--              added NOT VALID and validated under SHARE UPDATE EXCLUSIVE, a replaced trigger
--              function); the service must be upgraded with it: servers of the previous
--              release can no longer write these fields, and would read a new row's as missing

-- Rows written before this migration keep their value in the plaintext column until `ward keys
-- rewrap` encrypts it and clears it in one compare-and-swap update (as "version 0"); new rows
-- only ever have the ciphertext (AES-256-GCM bound to organization, table, column and row,
-- registered in the module's encrypted-columns.ts). A check keeps every value in exactly one
-- form (at most one for optional fields), so nothing is lost in the move. A later migration
-- drops the legacy columns once `ward keys status` shows no plaintext left (operations.md;
-- docs/decisions/2026-12-06-free-text-encryption.md).

-- Ciphertext is 33 bytes longer than its UTF-8 plaintext (header, nonce, tag); where the
-- plaintext column bounded its length, the ciphertext column bounds its size accordingly
-- (4 bytes per character at most), so the database still refuses an oversized value. Minimum
-- lengths are the services' to check now (a shred leaves 33-byte values that no key opens).

ALTER TABLE clinical.medical_cases
  ADD COLUMN symptoms_encrypted bytea,
  ADD COLUMN tags_encrypted bytea,
  ALTER COLUMN symptoms DROP NOT NULL,
  ALTER COLUMN symptoms DROP DEFAULT,
  ALTER COLUMN tags DROP NOT NULL,
  ALTER COLUMN tags DROP DEFAULT,
  ADD CONSTRAINT medical_cases_symptoms_one_form
    CHECK (num_nonnulls(symptoms, symptoms_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT medical_cases_tags_one_form
    CHECK (num_nonnulls(tags, tags_encrypted) = 1) NOT VALID;

ALTER TABLE clinical.diagnoses
  ADD COLUMN evidence_encrypted bytea,
  ADD COLUMN decision_reason_encrypted bytea,
  ALTER COLUMN evidence DROP NOT NULL,
  ALTER COLUMN evidence DROP DEFAULT,
  ADD CONSTRAINT diagnoses_evidence_one_form
    CHECK (num_nonnulls(evidence, evidence_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT diagnoses_decision_reason_one_form
    CHECK (num_nonnulls(decision_reason, decision_reason_encrypted) <= 1) NOT VALID,
  ADD CONSTRAINT diagnoses_decision_reason_encrypted_size
    CHECK (length(decision_reason_encrypted) <= 33 + 4 * 2000) NOT VALID,
  -- A rejection or revision still needs its reason, in either form.
  DROP CONSTRAINT diagnoses_check2,
  ADD CONSTRAINT diagnoses_decision_reason_required
    CHECK (status NOT IN ('rejected', 'revised') OR decision_reason IS NOT NULL
           OR decision_reason_encrypted IS NOT NULL) NOT VALID;

ALTER TABLE clinical.treatment_plans
  ADD COLUMN title_encrypted bytea,
  ADD COLUMN goals_encrypted bytea,
  ADD COLUMN interventions_encrypted bytea,
  ADD COLUMN schedule_encrypted bytea,
  ALTER COLUMN title DROP NOT NULL,
  ALTER COLUMN goals DROP NOT NULL,
  ALTER COLUMN goals DROP DEFAULT,
  ALTER COLUMN interventions DROP NOT NULL,
  ALTER COLUMN interventions DROP DEFAULT,
  ALTER COLUMN schedule DROP NOT NULL,
  ALTER COLUMN schedule DROP DEFAULT,
  ADD CONSTRAINT treatment_plans_title_one_form
    CHECK (num_nonnulls(title, title_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT treatment_plans_title_encrypted_size
    CHECK (length(title_encrypted) <= 33 + 4 * 200) NOT VALID,
  ADD CONSTRAINT treatment_plans_goals_one_form
    CHECK (num_nonnulls(goals, goals_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT treatment_plans_interventions_one_form
    CHECK (num_nonnulls(interventions, interventions_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT treatment_plans_schedule_one_form
    CHECK (num_nonnulls(schedule, schedule_encrypted) = 1) NOT VALID;

ALTER TABLE ward.break_glass_sessions
  ADD COLUMN reason_encrypted bytea,
  ALTER COLUMN reason DROP NOT NULL,
  ADD CONSTRAINT break_glass_sessions_reason_one_form
    CHECK (num_nonnulls(reason, reason_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT break_glass_sessions_reason_encrypted_size
    CHECK (length(reason_encrypted) <= 33 + 4 * 1000) NOT VALID;

ALTER TABLE ward.review_tasks
  ADD COLUMN summary_encrypted bytea,
  ADD COLUMN notes_encrypted bytea,
  ALTER COLUMN summary DROP NOT NULL,
  ADD CONSTRAINT review_tasks_summary_one_form
    CHECK (num_nonnulls(summary, summary_encrypted) = 1) NOT VALID,
  ADD CONSTRAINT review_tasks_summary_encrypted_size
    CHECK (length(summary_encrypted) <= 33 + 4 * 2000) NOT VALID,
  ADD CONSTRAINT review_tasks_notes_one_form
    CHECK (num_nonnulls(notes, notes_encrypted) <= 1) NOT VALID,
  ADD CONSTRAINT review_tasks_notes_encrypted_size
    CHECK (length(notes_encrypted) <= 33 + 4 * 4000) NOT VALID;

ALTER TABLE ward.security_alerts
  ADD COLUMN notes_encrypted bytea,
  ADD CONSTRAINT security_alerts_notes_one_form
    CHECK (num_nonnulls(notes, notes_encrypted) <= 1) NOT VALID,
  ADD CONSTRAINT security_alerts_notes_encrypted_size
    CHECK (length(notes_encrypted) <= 33 + 4 * 4000) NOT VALID;

-- Every existing row holds its plaintext form only, so these validate; the scans take SHARE
-- UPDATE EXCLUSIVE, which lets reads and writes go on.
ALTER TABLE clinical.medical_cases VALIDATE CONSTRAINT medical_cases_symptoms_one_form;
ALTER TABLE clinical.medical_cases VALIDATE CONSTRAINT medical_cases_tags_one_form;
ALTER TABLE clinical.diagnoses VALIDATE CONSTRAINT diagnoses_evidence_one_form;
ALTER TABLE clinical.diagnoses VALIDATE CONSTRAINT diagnoses_decision_reason_one_form;
ALTER TABLE clinical.diagnoses VALIDATE CONSTRAINT diagnoses_decision_reason_encrypted_size;
ALTER TABLE clinical.diagnoses VALIDATE CONSTRAINT diagnoses_decision_reason_required;
ALTER TABLE clinical.treatment_plans VALIDATE CONSTRAINT treatment_plans_title_one_form;
ALTER TABLE clinical.treatment_plans VALIDATE CONSTRAINT treatment_plans_title_encrypted_size;
ALTER TABLE clinical.treatment_plans VALIDATE CONSTRAINT treatment_plans_goals_one_form;
ALTER TABLE clinical.treatment_plans VALIDATE CONSTRAINT treatment_plans_interventions_one_form;
ALTER TABLE clinical.treatment_plans VALIDATE CONSTRAINT treatment_plans_schedule_one_form;
ALTER TABLE ward.break_glass_sessions VALIDATE CONSTRAINT break_glass_sessions_reason_one_form;
ALTER TABLE ward.break_glass_sessions VALIDATE CONSTRAINT break_glass_sessions_reason_encrypted_size;
ALTER TABLE ward.review_tasks VALIDATE CONSTRAINT review_tasks_summary_one_form;
ALTER TABLE ward.review_tasks VALIDATE CONSTRAINT review_tasks_summary_encrypted_size;
ALTER TABLE ward.review_tasks VALIDATE CONSTRAINT review_tasks_notes_one_form;
ALTER TABLE ward.review_tasks VALIDATE CONSTRAINT review_tasks_notes_encrypted_size;
ALTER TABLE ward.security_alerts VALIDATE CONSTRAINT security_alerts_notes_one_form;
ALTER TABLE ward.security_alerts VALIDATE CONSTRAINT security_alerts_notes_encrypted_size;

COMMENT ON COLUMN clinical.medical_cases.symptoms_encrypted IS 'ward:encrypted symptoms (JSON list, free text)';
COMMENT ON COLUMN clinical.medical_cases.tags_encrypted IS 'ward:encrypted tags (JSON list of labels)';
COMMENT ON COLUMN clinical.diagnoses.evidence_encrypted IS 'ward:encrypted evidence (JSON object; AI evidence may quote notes)';
COMMENT ON COLUMN clinical.diagnoses.decision_reason_encrypted IS 'ward:encrypted reason for a rejection or revision (free text)';
COMMENT ON COLUMN clinical.treatment_plans.title_encrypted IS 'ward:encrypted plan title (free text)';
COMMENT ON COLUMN clinical.treatment_plans.goals_encrypted IS 'ward:encrypted goals (JSON list, free text)';
COMMENT ON COLUMN clinical.treatment_plans.interventions_encrypted IS 'ward:encrypted interventions (JSON list, free text)';
COMMENT ON COLUMN clinical.treatment_plans.schedule_encrypted IS 'ward:encrypted schedule (JSON object with free-form values)';
COMMENT ON COLUMN ward.break_glass_sessions.reason_encrypted IS 'ward:encrypted break-glass reason (free text)';
COMMENT ON COLUMN ward.review_tasks.summary_encrypted IS 'ward:encrypted review summary (quotes the break-glass reason)';
COMMENT ON COLUMN ward.review_tasks.notes_encrypted IS 'ward:encrypted reviewer notes (free text)';
COMMENT ON COLUMN ward.security_alerts.notes_encrypted IS 'ward:encrypted resolution notes (free text)';
COMMENT ON COLUMN clinical.medical_cases.symptoms IS 'ward:legacy-plaintext of symptoms_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.medical_cases.tags IS 'ward:legacy-plaintext of tags_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.diagnoses.evidence IS 'ward:legacy-plaintext of evidence_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.diagnoses.decision_reason IS 'ward:legacy-plaintext of decision_reason_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.treatment_plans.title IS 'ward:legacy-plaintext of title_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.treatment_plans.goals IS 'ward:legacy-plaintext of goals_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.treatment_plans.interventions IS 'ward:legacy-plaintext of interventions_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN clinical.treatment_plans.schedule IS 'ward:legacy-plaintext of schedule_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN ward.break_glass_sessions.reason IS 'ward:legacy-plaintext of reason_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN ward.review_tasks.summary IS 'ward:legacy-plaintext of summary_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN ward.review_tasks.notes IS 'ward:legacy-plaintext of notes_encrypted (rows before 0022; emptied by ward keys rewrap)';
COMMENT ON COLUMN ward.security_alerts.notes IS 'ward:legacy-plaintext of notes_encrypted (rows before 0022; emptied by ward keys rewrap)';

-- Requests write only ciphertext from now on: the plaintext columns lose their INSERT and
-- UPDATE grants (reads of legacy values go on through the table-wide SELECT).
REVOKE INSERT (symptoms, tags), UPDATE (symptoms, tags) ON clinical.medical_cases FROM ward_app;
GRANT INSERT (symptoms_encrypted, tags_encrypted) ON clinical.medical_cases TO ward_app;
REVOKE INSERT (evidence, decision_reason), UPDATE (decision_reason) ON clinical.diagnoses FROM ward_app;
GRANT INSERT (evidence_encrypted, decision_reason_encrypted), UPDATE (decision_reason_encrypted)
  ON clinical.diagnoses TO ward_app;
REVOKE INSERT (title, goals, interventions, schedule), UPDATE (title, goals, interventions, schedule)
  ON clinical.treatment_plans FROM ward_app;
GRANT INSERT (title_encrypted, goals_encrypted, interventions_encrypted, schedule_encrypted)
  ON clinical.treatment_plans TO ward_app;
REVOKE INSERT (reason) ON ward.break_glass_sessions FROM ward_app;
GRANT INSERT (reason_encrypted) ON ward.break_glass_sessions TO ward_app;
REVOKE INSERT (summary), UPDATE (notes) ON ward.review_tasks FROM ward_app;
GRANT INSERT (summary_encrypted), UPDATE (notes_encrypted) ON ward.review_tasks TO ward_app;
REVOKE UPDATE (notes) ON ward.security_alerts FROM ward_app;
GRANT UPDATE (notes_encrypted) ON ward.security_alerts TO ward_app;

-- The rewrap job re-seals the ciphertext, and encrypts a legacy value and clears it (a shred
-- erases it); it already holds every privilege on the ward tables.
GRANT UPDATE (symptoms_encrypted, tags_encrypted, symptoms, tags) ON clinical.medical_cases TO ward_system;
GRANT UPDATE (evidence_encrypted, decision_reason_encrypted, evidence, decision_reason)
  ON clinical.diagnoses TO ward_system;
GRANT UPDATE (title_encrypted, goals_encrypted, interventions_encrypted, schedule_encrypted,
              title, goals, interventions, schedule)
  ON clinical.treatment_plans TO ward_system;

-- A resolved alert's notes still never change, except that the rewrap job (ward_system) may
-- re-seal them, move them from the legacy column, or erase them in a shred: same text, or none.
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
                                   OR ((NEW.notes IS DISTINCT FROM OLD.notes
                                        OR NEW.notes_encrypted IS DISTINCT FROM OLD.notes_encrypted)
                                       AND current_user <> 'ward_system')))
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
