-- Migration: 0006-clinical (rollback)
-- Purpose: Remove the clinical schema: patients, cases, diagnoses, plans, prescriptions,
--          images, the ICD-10-CM code set and the medication catalog. Refused while the
--          tenant tables hold rows, unless forced.
-- Online-safe: no

DROP TABLE clinical.medical_images;
DROP TABLE clinical.prescriptions;
DROP TABLE clinical.medications;
DROP TABLE clinical.treatment_plans;
DROP TRIGGER diagnoses_transition ON clinical.diagnoses;
DROP FUNCTION clinical.check_diagnosis_transition();
DROP TABLE clinical.diagnoses;
DROP TABLE clinical.icd10_codes;
DROP TRIGGER medical_cases_transition ON clinical.medical_cases;
DROP FUNCTION clinical.check_case_transition();
DROP FUNCTION clinical.case_transition_allowed(clinical.case_status, clinical.case_status);
DROP TABLE clinical.medical_cases;
DROP TABLE clinical.patients;
DROP TYPE clinical.plan_status;
DROP TYPE clinical.diagnosis_source;
DROP TYPE clinical.diagnosis_status;
DROP TYPE clinical.case_priority;
DROP TYPE clinical.case_status;
DROP TYPE clinical.risk_category;
DROP TYPE clinical.patient_status;
DROP SCHEMA clinical;
