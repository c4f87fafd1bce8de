-- Migration: 0013-plan-review-covers-prescriptions (rollback)
-- Purpose: Remove the insert checks on treatment plans and prescriptions; the service still
--          refuses prescriptions on reviewed or non-draft plans.
-- Online-safe: yes

DROP TRIGGER prescriptions_insert ON clinical.prescriptions;
DROP FUNCTION clinical.check_prescription_insert();
DROP TRIGGER treatment_plans_insert ON clinical.treatment_plans;
DROP FUNCTION clinical.check_plan_insert();
