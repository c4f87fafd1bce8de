-- Migration: 0006-clinical
-- Purpose: The clinical domain (seed 000, NEURAXIS): patients with field-encrypted PHI and
--          blind indexes for exact-match search, medical cases with a care team and an
--          enforced status workflow, diagnoses validated against a versioned ICD-10-CM subset
--          (with AI suggestions), treatment plans, the medication catalog, prescriptions and
--          medical image metadata. Patient-scoped tables honour cross-organization grants.
-- Online-safe: yes (new schema and tables only)

CREATE SCHEMA clinical;
GRANT USAGE ON SCHEMA clinical TO ward_app, ward_auditor, ward_system;

CREATE TYPE clinical.patient_status AS ENUM ('active', 'inactive', 'deceased');
CREATE TYPE clinical.risk_category AS ENUM ('low', 'moderate', 'high', 'critical');
CREATE TYPE clinical.case_status AS ENUM ('open', 'in_review', 'diagnosed', 'treatment', 'closed');
CREATE TYPE clinical.case_priority AS ENUM ('low', 'normal', 'high', 'urgent');
CREATE TYPE clinical.diagnosis_status AS ENUM ('suggested', 'confirmed', 'rejected', 'revised');
CREATE TYPE clinical.diagnosis_source AS ENUM ('clinician', 'ai');
CREATE TYPE clinical.plan_status AS ENUM ('draft', 'active', 'completed', 'cancelled');

-- Patients. The nine PHI fields of seed 1 are ciphertext bound to (organization, table,
-- column, id); exact-match search goes through truncated keyed hashes (*_bidx). The MRN is an
-- identifier issued by the organization and is kept readable (docs/decisions), but searched
-- through its blind index like every other identifier.
CREATE TABLE clinical.patients (
  organization_id              uuid NOT NULL REFERENCES ward.organizations (id),
  id                           uuid NOT NULL DEFAULT gen_random_uuid(),
  mrn                          text NOT NULL CHECK (mrn ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  mrn_bidx                     bytea NOT NULL,
  first_name_encrypted         bytea NOT NULL,
  last_name_encrypted          bytea NOT NULL,
  date_of_birth_encrypted      bytea NOT NULL,
  ssn_encrypted                bytea,
  email_encrypted              bytea,
  phone_encrypted              bytea,
  address_encrypted            bytea,
  emergency_contact_encrypted  bytea,
  insurance_encrypted          bytea,
  ssn_bidx                     bytea,
  email_bidx                   bytea,
  phone_bidx                   bytea,
  name_dob_bidx                bytea NOT NULL,
  allergies                    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(allergies) = 'array'),
  vitals                       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(vitals) = 'object'),
  conditions                   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conditions) = 'array'),
  status                       clinical.patient_status NOT NULL DEFAULT 'active',
  date_of_death                date,
  risk_category                clinical.risk_category,
  version                      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_by                   uuid,
  created_at                   timestamptz NOT NULL DEFAULT now(),
  updated_at                   timestamptz NOT NULL DEFAULT now(),
  CHECK (date_of_death IS NULL OR status = 'deceased'),
  CHECK ((ssn_encrypted IS NULL) = (ssn_bidx IS NULL)),
  CHECK ((email_encrypted IS NULL) = (email_bidx IS NULL)),
  CHECK ((phone_encrypted IS NULL) = (phone_bidx IS NULL)),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, mrn)
);
CREATE INDEX patients_mrn_bidx_idx ON clinical.patients (organization_id, mrn_bidx);
CREATE INDEX patients_ssn_bidx_idx ON clinical.patients (organization_id, ssn_bidx);
CREATE INDEX patients_email_bidx_idx ON clinical.patients (organization_id, email_bidx);
CREATE INDEX patients_phone_bidx_idx ON clinical.patients (organization_id, phone_bidx);
CREATE INDEX patients_name_dob_bidx_idx ON clinical.patients (organization_id, name_dob_bidx);
CREATE INDEX patients_created_idx ON clinical.patients (organization_id, created_at, id);
CREATE TRIGGER patients_touch BEFORE UPDATE ON clinical.patients
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

-- Medical cases. The care team (assigned_clinicians) feeds care-team access policies.
CREATE TABLE clinical.medical_cases (
  organization_id            uuid NOT NULL,
  id                         uuid NOT NULL DEFAULT gen_random_uuid(),
  patient_id                 uuid NOT NULL,
  status                     clinical.case_status NOT NULL DEFAULT 'open',
  priority                   clinical.case_priority NOT NULL DEFAULT 'normal',
  chief_complaint_encrypted  bytea NOT NULL,
  symptoms                   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(symptoms) = 'array'),
  vitals                     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(vitals) = 'object'),
  tags                       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 50),
  assigned_clinicians        uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(assigned_clinicians) <= 50),
  opened_by                  uuid,
  closed_at                  timestamptz,
  version                    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES clinical.patients (organization_id, id)
);
CREATE INDEX medical_cases_patient_idx ON clinical.medical_cases (organization_id, patient_id);
CREATE INDEX medical_cases_status_idx ON clinical.medical_cases (organization_id, status, created_at);
CREATE TRIGGER medical_cases_touch BEFORE UPDATE ON clinical.medical_cases
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

-- The case workflow, enforced here as well as in the service: forward one step at a time,
-- back from review to open, and closing from any open state. Closed is final.
CREATE FUNCTION clinical.case_transition_allowed(p_from clinical.case_status, p_to clinical.case_status)
  RETURNS boolean
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog
  AS $$
  SELECT p_from = p_to
      OR (p_from, p_to) IN (('open'::clinical.case_status, 'in_review'::clinical.case_status),
                            ('in_review', 'open'), ('in_review', 'diagnosed'),
                            ('diagnosed', 'treatment'), ('treatment', 'closed'))
      OR (p_from <> 'closed' AND p_to = 'closed')
$$;

CREATE FUNCTION clinical.check_case_transition() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NOT clinical.case_transition_allowed(OLD.status, NEW.status) THEN
    RAISE EXCEPTION 'invalid case status transition' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER medical_cases_transition BEFORE UPDATE OF status ON clinical.medical_cases
  FOR EACH ROW EXECUTE FUNCTION clinical.check_case_transition();

-- ICD-10-CM (public domain, CDC/CMS): a shipped subset, versioned by code-set release. Full
-- releases are loaded with `ward icd10 import --file F`.
CREATE TABLE clinical.icd10_codes (
  version      text NOT NULL CHECK (version ~ '^[0-9A-Za-z._-]{1,32}$'),
  code         text NOT NULL CHECK (code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'),
  description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 400),
  billable     boolean NOT NULL DEFAULT true,
  PRIMARY KEY (version, code)
);
COMMENT ON TABLE clinical.icd10_codes IS
  'ICD-10-CM code set by release. ward:reference-data (rows come from migrations and ward icd10 import)';

CREATE TABLE clinical.diagnoses (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  case_id          uuid NOT NULL,
  patient_id       uuid NOT NULL,
  icd10_version    text NOT NULL,
  icd10_code       text NOT NULL,
  status           clinical.diagnosis_status NOT NULL DEFAULT 'suggested',
  source           clinical.diagnosis_source NOT NULL,
  model_id         text CHECK (length(model_id) BETWEEN 1 AND 200),
  model_version    text CHECK (length(model_version) BETWEEN 1 AND 100),
  confidence       numeric(4, 3) CHECK (confidence >= 0 AND confidence <= 1),
  evidence         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(evidence) = 'object'),
  suggested_by     uuid,
  decided_by       uuid,
  decided_at       timestamptz,
  decision_reason  text CHECK (length(btrim(decision_reason)) BETWEEN 3 AND 2000),
  revised_to       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (source = 'clinician' OR (model_id IS NOT NULL AND model_version IS NOT NULL AND confidence IS NOT NULL)),
  CHECK ((status = 'suggested') = (decided_at IS NULL)),
  CHECK (status NOT IN ('rejected', 'revised') OR decision_reason IS NOT NULL),
  CHECK ((status = 'revised') = (revised_to IS NOT NULL)),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, case_id) REFERENCES clinical.medical_cases (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES clinical.patients (organization_id, id),
  FOREIGN KEY (organization_id, revised_to) REFERENCES clinical.diagnoses (organization_id, id),
  FOREIGN KEY (icd10_version, icd10_code) REFERENCES clinical.icd10_codes (version, code)
);
CREATE INDEX diagnoses_case_idx ON clinical.diagnoses (organization_id, case_id, created_at);
CREATE INDEX diagnoses_patient_idx ON clinical.diagnoses (organization_id, patient_id);
CREATE INDEX diagnoses_code_idx ON clinical.diagnoses (organization_id, icd10_code);
CREATE INDEX diagnoses_icd10_idx ON clinical.diagnoses (icd10_version, icd10_code);
CREATE TRIGGER diagnoses_touch BEFORE UPDATE ON clinical.diagnoses
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

-- A suggestion is decided once: suggested → confirmed | rejected | revised; decisions are final.
CREATE FUNCTION clinical.check_diagnosis_transition() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NEW.status <> OLD.status AND OLD.status <> 'suggested' THEN
    RAISE EXCEPTION 'invalid diagnosis status transition' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER diagnoses_transition BEFORE UPDATE OF status ON clinical.diagnoses
  FOR EACH ROW EXECUTE FUNCTION clinical.check_diagnosis_transition();

CREATE TABLE clinical.treatment_plans (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  case_id          uuid NOT NULL,
  patient_id       uuid NOT NULL,
  title            text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  goals            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(goals) = 'array'),
  interventions    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(interventions) = 'array'),
  schedule         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(schedule) = 'object'),
  status           clinical.plan_status NOT NULL DEFAULT 'draft',
  author_id        uuid NOT NULL,
  reviewer_id      uuid,
  reviewed_at      timestamptz,
  version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((reviewer_id IS NULL) = (reviewed_at IS NULL)),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, case_id) REFERENCES clinical.medical_cases (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES clinical.patients (organization_id, id)
);
CREATE INDEX treatment_plans_case_idx ON clinical.treatment_plans (organization_id, case_id);
CREATE INDEX treatment_plans_patient_idx ON clinical.treatment_plans (organization_id, patient_id);
CREATE TRIGGER treatment_plans_touch BEFORE UPDATE ON clinical.treatment_plans
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

-- The global medication catalog (RxNorm codes where known).
CREATE TABLE clinical.medications (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  rxnorm_code  text CHECK (rxnorm_code ~ '^[0-9]{1,10}$'),
  form         text NOT NULL CHECK (length(form) BETWEEN 1 AND 60),
  strength     text NOT NULL CHECK (length(strength) BETWEEN 1 AND 60),
  UNIQUE (name, form, strength)
);
CREATE INDEX medications_name_idx ON clinical.medications (lower(name));
COMMENT ON TABLE clinical.medications IS
  'Medication catalog. ward:reference-data (rows come from migrations)';

CREATE TABLE clinical.prescriptions (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  plan_id          uuid NOT NULL,
  patient_id       uuid NOT NULL,
  medication_id    uuid NOT NULL REFERENCES clinical.medications (id),
  dose             text NOT NULL CHECK (length(btrim(dose)) BETWEEN 1 AND 60),
  route            text NOT NULL CHECK (route IN ('oral', 'intravenous', 'intramuscular', 'subcutaneous',
                                                  'topical', 'inhaled', 'sublingual', 'rectal',
                                                  'transdermal', 'ophthalmic', 'otic', 'nasal')),
  frequency        text NOT NULL CHECK (length(btrim(frequency)) BETWEEN 1 AND 60),
  start_date       date NOT NULL,
  end_date         date,
  prescriber_id    uuid NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (end_date IS NULL OR end_date >= start_date),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, plan_id) REFERENCES clinical.treatment_plans (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES clinical.patients (organization_id, id)
);
CREATE INDEX prescriptions_plan_idx ON clinical.prescriptions (organization_id, plan_id);
CREATE INDEX prescriptions_medication_idx ON clinical.prescriptions (medication_id);

-- Image metadata (the encrypted object store holds the bytes under storage_key).
CREATE TABLE clinical.medical_images (
  organization_id     uuid NOT NULL,
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  case_id             uuid NOT NULL,
  patient_id          uuid NOT NULL,
  modality            text NOT NULL CHECK (modality ~ '^[A-Z]{2,4}$'),
  body_part           text CHECK (length(body_part) BETWEEN 1 AND 64),
  study_uid           text CHECK (study_uid ~ '^[0-9]+(\.[0-9]+)*$' AND length(study_uid) <= 64),
  series_uid          text CHECK (series_uid ~ '^[0-9]+(\.[0-9]+)*$' AND length(series_uid) <= 64),
  instance_uid        text CHECK (instance_uid ~ '^[0-9]+(\.[0-9]+)*$' AND length(instance_uid) <= 64),
  content_type        text NOT NULL CHECK (length(content_type) BETWEEN 3 AND 100),
  size_bytes          bigint NOT NULL CHECK (size_bytes >= 0),
  sha256              bytea NOT NULL CHECK (length(sha256) = 32),
  storage_key         text NOT NULL CHECK (length(storage_key) BETWEEN 1 AND 300),
  uploaded_by         uuid,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, storage_key),
  FOREIGN KEY (organization_id, case_id) REFERENCES clinical.medical_cases (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES clinical.patients (organization_id, id)
);
CREATE INDEX medical_images_case_idx ON clinical.medical_images (organization_id, case_id);
CREATE INDEX medical_images_patient_idx ON clinical.medical_images (organization_id, patient_id);

COMMENT ON COLUMN clinical.patients.first_name_encrypted IS 'ward:encrypted patient first name';
COMMENT ON COLUMN clinical.patients.last_name_encrypted IS 'ward:encrypted patient last name';
COMMENT ON COLUMN clinical.patients.date_of_birth_encrypted IS 'ward:encrypted date of birth (YYYY-MM-DD)';
COMMENT ON COLUMN clinical.patients.ssn_encrypted IS 'ward:encrypted Social Security Number';
COMMENT ON COLUMN clinical.patients.email_encrypted IS 'ward:encrypted email address';
COMMENT ON COLUMN clinical.patients.phone_encrypted IS 'ward:encrypted phone number';
COMMENT ON COLUMN clinical.patients.address_encrypted IS 'ward:encrypted address (JSON)';
COMMENT ON COLUMN clinical.patients.emergency_contact_encrypted IS 'ward:encrypted emergency contact (JSON)';
COMMENT ON COLUMN clinical.patients.insurance_encrypted IS 'ward:encrypted insurance details (JSON)';
COMMENT ON COLUMN clinical.medical_cases.chief_complaint_encrypted IS 'ward:encrypted chief complaint (free text)';

-- Row-level security: tenant isolation, plus read access through a live grant
-- (ward.grant_allows) for the organization a patient's owner granted it to.
ALTER TABLE clinical.patients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinical.patients FORCE ROW LEVEL SECURITY;
CREATE POLICY patients_tenant ON clinical.patients
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY patients_granted ON clinical.patients FOR SELECT
  USING (ward.grant_allows(organization_id, id, 'patient:read'));

ALTER TABLE clinical.medical_cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinical.medical_cases FORCE ROW LEVEL SECURITY;
CREATE POLICY medical_cases_tenant ON clinical.medical_cases
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY medical_cases_granted ON clinical.medical_cases FOR SELECT
  USING (ward.grant_allows(organization_id, patient_id, 'case:read'));

ALTER TABLE clinical.diagnoses ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinical.diagnoses FORCE ROW LEVEL SECURITY;
CREATE POLICY diagnoses_tenant ON clinical.diagnoses
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY diagnoses_granted ON clinical.diagnoses FOR SELECT
  USING (ward.grant_allows(organization_id, patient_id, 'diagnosis:read'));

ALTER TABLE clinical.treatment_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinical.treatment_plans FORCE ROW LEVEL SECURITY;
CREATE POLICY treatment_plans_tenant ON clinical.treatment_plans
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY treatment_plans_granted ON clinical.treatment_plans FOR SELECT
  USING (ward.grant_allows(organization_id, patient_id, 'treatment_plan:read'));

ALTER TABLE clinical.prescriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinical.prescriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY prescriptions_tenant ON clinical.prescriptions
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY prescriptions_granted ON clinical.prescriptions FOR SELECT
  USING (ward.grant_allows(organization_id, patient_id, 'treatment_plan:read'));

ALTER TABLE clinical.medical_images ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinical.medical_images FORCE ROW LEVEL SECURITY;
CREATE POLICY medical_images_tenant ON clinical.medical_images
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
CREATE POLICY medical_images_granted ON clinical.medical_images FOR SELECT
  USING (ward.grant_allows(organization_id, patient_id, 'image:read'));

-- Grants: requests read, insert and update listed columns; nothing is deleted by a request.
GRANT SELECT,
      INSERT (organization_id, id, mrn, mrn_bidx, first_name_encrypted, last_name_encrypted,
              date_of_birth_encrypted, ssn_encrypted, email_encrypted, phone_encrypted,
              address_encrypted, emergency_contact_encrypted, insurance_encrypted, ssn_bidx,
              email_bidx, phone_bidx, name_dob_bidx, allergies, vitals, conditions, status,
              date_of_death, risk_category, created_by),
      UPDATE (mrn, mrn_bidx, first_name_encrypted, last_name_encrypted, date_of_birth_encrypted,
              ssn_encrypted, email_encrypted, phone_encrypted, address_encrypted,
              emergency_contact_encrypted, insurance_encrypted, ssn_bidx, email_bidx, phone_bidx,
              name_dob_bidx, allergies, vitals, conditions, status, date_of_death, risk_category,
              version)
  ON clinical.patients TO ward_app;
GRANT SELECT,
      INSERT (organization_id, id, patient_id, status, priority, chief_complaint_encrypted,
              symptoms, vitals, tags, assigned_clinicians, opened_by),
      UPDATE (status, priority, chief_complaint_encrypted, symptoms, vitals, tags,
              assigned_clinicians, closed_at, version)
  ON clinical.medical_cases TO ward_app;
GRANT SELECT,
      INSERT (organization_id, id, case_id, patient_id, icd10_version, icd10_code, status, source,
              model_id, model_version, confidence, evidence, suggested_by, decided_by, decided_at,
              decision_reason),
      UPDATE (status, decided_by, decided_at, decision_reason, revised_to)
  ON clinical.diagnoses TO ward_app;
GRANT SELECT,
      INSERT (organization_id, id, case_id, patient_id, title, goals, interventions, schedule,
              status, author_id),
      UPDATE (title, goals, interventions, schedule, status, reviewer_id, reviewed_at, version)
  ON clinical.treatment_plans TO ward_app;
GRANT SELECT,
      INSERT (organization_id, id, plan_id, patient_id, medication_id, dose, route, frequency,
              start_date, end_date, prescriber_id)
  ON clinical.prescriptions TO ward_app;
GRANT SELECT,
      INSERT (organization_id, id, case_id, patient_id, modality, body_part, study_uid,
              series_uid, instance_uid, content_type, size_bytes, sha256, storage_key, uploaded_by)
  ON clinical.medical_images TO ward_app;
GRANT SELECT ON clinical.icd10_codes, clinical.medications TO ward_app, ward_auditor, ward_system;
GRANT EXECUTE ON FUNCTION clinical.case_transition_allowed(clinical.case_status, clinical.case_status)
  TO ward_app;
-- The rewrap job replaces ciphertext in place (and only that).
GRANT SELECT,
      UPDATE (first_name_encrypted, last_name_encrypted, date_of_birth_encrypted, ssn_encrypted,
              email_encrypted, phone_encrypted, address_encrypted, emergency_contact_encrypted,
              insurance_encrypted)
  ON clinical.patients TO ward_system;
GRANT SELECT, UPDATE (chief_complaint_encrypted) ON clinical.medical_cases TO ward_system;
GRANT SELECT ON clinical.diagnoses, clinical.treatment_plans, clinical.prescriptions,
      clinical.medical_images TO ward_system;

-- The shipped ICD-10-CM subset: common codes with short descriptions (release 2026).
INSERT INTO clinical.icd10_codes (version, code, description) VALUES
  ('2026', 'A09', 'Infectious gastroenteritis and colitis, unspecified'),
  ('2026', 'A41.9', 'Sepsis, unspecified organism'),
  ('2026', 'A49.9', 'Bacterial infection, unspecified'),
  ('2026', 'B00.9', 'Herpesviral infection, unspecified'),
  ('2026', 'B02.9', 'Zoster without complications'),
  ('2026', 'B34.9', 'Viral infection, unspecified'),
  ('2026', 'B35.1', 'Tinea unguium'),
  ('2026', 'B37.0', 'Candidal stomatitis'),
  ('2026', 'B96.20', 'Unspecified Escherichia coli as the cause of diseases classified elsewhere'),
  ('2026', 'C18.9', 'Malignant neoplasm of colon, unspecified'),
  ('2026', 'C34.90', 'Malignant neoplasm of unspecified part of unspecified bronchus or lung'),
  ('2026', 'C50.919', 'Malignant neoplasm of unspecified site of unspecified female breast'),
  ('2026', 'C61', 'Malignant neoplasm of prostate'),
  ('2026', 'C71.9', 'Malignant neoplasm of brain, unspecified'),
  ('2026', 'D50.9', 'Iron deficiency anemia, unspecified'),
  ('2026', 'D64.9', 'Anemia, unspecified'),
  ('2026', 'D69.6', 'Thrombocytopenia, unspecified'),
  ('2026', 'E03.9', 'Hypothyroidism, unspecified'),
  ('2026', 'E05.90', 'Thyrotoxicosis, unspecified without thyrotoxic crisis or storm'),
  ('2026', 'E10.9', 'Type 1 diabetes mellitus without complications'),
  ('2026', 'E11.22', 'Type 2 diabetes mellitus with diabetic chronic kidney disease'),
  ('2026', 'E11.40', 'Type 2 diabetes mellitus with diabetic neuropathy, unspecified'),
  ('2026', 'E11.65', 'Type 2 diabetes mellitus with hyperglycemia'),
  ('2026', 'E11.9', 'Type 2 diabetes mellitus without complications'),
  ('2026', 'E55.9', 'Vitamin D deficiency, unspecified'),
  ('2026', 'E66.9', 'Obesity, unspecified'),
  ('2026', 'E78.00', 'Pure hypercholesterolemia, unspecified'),
  ('2026', 'E78.5', 'Hyperlipidemia, unspecified'),
  ('2026', 'E86.0', 'Dehydration'),
  ('2026', 'E87.1', 'Hypo-osmolality and hyponatremia'),
  ('2026', 'E87.6', 'Hypokalemia'),
  ('2026', 'F01.50', 'Vascular dementia, unspecified severity, without behavioral disturbance'),
  ('2026', 'F03.90', 'Unspecified dementia, unspecified severity, without behavioral disturbance'),
  ('2026', 'F10.20', 'Alcohol dependence, uncomplicated'),
  ('2026', 'F17.210', 'Nicotine dependence, cigarettes, uncomplicated'),
  ('2026', 'F32.9', 'Major depressive disorder, single episode, unspecified'),
  ('2026', 'F32.A', 'Depression, unspecified'),
  ('2026', 'F33.1', 'Major depressive disorder, recurrent, moderate'),
  ('2026', 'F41.1', 'Generalized anxiety disorder'),
  ('2026', 'F41.9', 'Anxiety disorder, unspecified'),
  ('2026', 'F43.10', 'Post-traumatic stress disorder, unspecified'),
  ('2026', 'F51.01', 'Primary insomnia'),
  ('2026', 'F90.9', 'Attention-deficit hyperactivity disorder, unspecified type'),
  ('2026', 'G20.A1', 'Parkinson''s disease without dyskinesia, without mention of fluctuations'),
  ('2026', 'G30.9', 'Alzheimer''s disease, unspecified'),
  ('2026', 'G35', 'Multiple sclerosis'),
  ('2026', 'G40.909', 'Epilepsy, unspecified, not intractable, without status epilepticus'),
  ('2026', 'G40.919', 'Epilepsy, unspecified, intractable, without status epilepticus'),
  ('2026', 'G43.009', 'Migraine without aura, not intractable, without status migrainosus'),
  ('2026', 'G43.109', 'Migraine with aura, not intractable, without status migrainosus'),
  ('2026', 'G43.909', 'Migraine, unspecified, not intractable, without status migrainosus'),
  ('2026', 'G44.209', 'Tension-type headache, unspecified, not intractable'),
  ('2026', 'G45.9', 'Transient cerebral ischemic attack, unspecified'),
  ('2026', 'G47.00', 'Insomnia, unspecified'),
  ('2026', 'G47.33', 'Obstructive sleep apnea (adult) (pediatric)'),
  ('2026', 'G56.00', 'Carpal tunnel syndrome, unspecified upper limb'),
  ('2026', 'G62.9', 'Polyneuropathy, unspecified'),
  ('2026', 'G89.29', 'Other chronic pain'),
  ('2026', 'G93.40', 'Encephalopathy, unspecified'),
  ('2026', 'H10.9', 'Unspecified conjunctivitis'),
  ('2026', 'H40.9', 'Unspecified glaucoma'),
  ('2026', 'H52.4', 'Presbyopia'),
  ('2026', 'H66.90', 'Otitis media, unspecified, unspecified ear'),
  ('2026', 'H81.10', 'Benign paroxysmal vertigo, unspecified ear'),
  ('2026', 'H91.90', 'Unspecified hearing loss, unspecified ear'),
  ('2026', 'I10', 'Essential (primary) hypertension'),
  ('2026', 'I11.9', 'Hypertensive heart disease without heart failure'),
  ('2026', 'I20.9', 'Angina pectoris, unspecified'),
  ('2026', 'I21.9', 'Acute myocardial infarction, unspecified'),
  ('2026', 'I25.10', 'Atherosclerotic heart disease of native coronary artery without angina pectoris'),
  ('2026', 'I48.91', 'Unspecified atrial fibrillation'),
  ('2026', 'I49.9', 'Cardiac arrhythmia, unspecified'),
  ('2026', 'I50.9', 'Heart failure, unspecified'),
  ('2026', 'I63.9', 'Cerebral infarction, unspecified'),
  ('2026', 'I73.9', 'Peripheral vascular disease, unspecified'),
  ('2026', 'I80.209', 'Phlebitis and thrombophlebitis of unspecified deep vessels of unspecified lower extremity'),
  ('2026', 'I82.409', 'Acute embolism and thrombosis of unspecified deep veins of unspecified lower extremity'),
  ('2026', 'I95.9', 'Hypotension, unspecified'),
  ('2026', 'J01.90', 'Acute sinusitis, unspecified'),
  ('2026', 'J02.9', 'Acute pharyngitis, unspecified'),
  ('2026', 'J03.90', 'Acute tonsillitis, unspecified'),
  ('2026', 'J06.9', 'Acute upper respiratory infection, unspecified'),
  ('2026', 'J09.X2', 'Influenza due to identified novel influenza A virus with other respiratory manifestations'),
  ('2026', 'J11.1', 'Influenza due to unidentified influenza virus with other respiratory manifestations'),
  ('2026', 'J18.9', 'Pneumonia, unspecified organism'),
  ('2026', 'J20.9', 'Acute bronchitis, unspecified'),
  ('2026', 'J30.9', 'Allergic rhinitis, unspecified'),
  ('2026', 'J32.9', 'Chronic sinusitis, unspecified'),
  ('2026', 'J44.1', 'Chronic obstructive pulmonary disease with (acute) exacerbation'),
  ('2026', 'J44.9', 'Chronic obstructive pulmonary disease, unspecified'),
  ('2026', 'J45.901', 'Unspecified asthma with (acute) exacerbation'),
  ('2026', 'J45.909', 'Unspecified asthma, uncomplicated'),
  ('2026', 'J96.00', 'Acute respiratory failure, unspecified whether with hypoxia or hypercapnia'),
  ('2026', 'K21.9', 'Gastro-esophageal reflux disease without esophagitis'),
  ('2026', 'K25.9', 'Gastric ulcer, unspecified as acute or chronic, without hemorrhage or perforation'),
  ('2026', 'K29.70', 'Gastritis, unspecified, without bleeding'),
  ('2026', 'K30', 'Functional dyspepsia'),
  ('2026', 'K35.80', 'Unspecified acute appendicitis'),
  ('2026', 'K40.90', 'Unilateral inguinal hernia, without obstruction or gangrene, not specified as recurrent'),
  ('2026', 'K52.9', 'Noninfective gastroenteritis and colitis, unspecified'),
  ('2026', 'K57.30', 'Diverticulosis of large intestine without perforation or abscess without bleeding'),
  ('2026', 'K58.9', 'Irritable bowel syndrome without diarrhea'),
  ('2026', 'K59.00', 'Constipation, unspecified'),
  ('2026', 'K76.0', 'Fatty (change of) liver, not elsewhere classified'),
  ('2026', 'K80.20', 'Calculus of gallbladder without cholecystitis without obstruction'),
  ('2026', 'K85.90', 'Acute pancreatitis without necrosis or infection, unspecified'),
  ('2026', 'L03.90', 'Cellulitis, unspecified'),
  ('2026', 'L20.9', 'Atopic dermatitis, unspecified'),
  ('2026', 'L30.9', 'Dermatitis, unspecified'),
  ('2026', 'L40.0', 'Psoriasis vulgaris'),
  ('2026', 'L50.9', 'Urticaria, unspecified'),
  ('2026', 'L70.0', 'Acne vulgaris'),
  ('2026', 'M06.9', 'Rheumatoid arthritis, unspecified'),
  ('2026', 'M10.9', 'Gout, unspecified'),
  ('2026', 'M17.9', 'Osteoarthritis of knee, unspecified'),
  ('2026', 'M19.90', 'Unspecified osteoarthritis, unspecified site'),
  ('2026', 'M25.50', 'Pain in unspecified joint'),
  ('2026', 'M25.561', 'Pain in right knee'),
  ('2026', 'M25.562', 'Pain in left knee'),
  ('2026', 'M54.16', 'Radiculopathy, lumbar region'),
  ('2026', 'M54.2', 'Cervicalgia'),
  ('2026', 'M54.50', 'Low back pain, unspecified'),
  ('2026', 'M62.830', 'Muscle spasm of back'),
  ('2026', 'M79.1', 'Myalgia'),
  ('2026', 'M79.7', 'Fibromyalgia'),
  ('2026', 'M81.0', 'Age-related osteoporosis without current pathological fracture'),
  ('2026', 'N17.9', 'Acute kidney failure, unspecified'),
  ('2026', 'N18.3', 'Chronic kidney disease, stage 3 (moderate)'),
  ('2026', 'N18.9', 'Chronic kidney disease, unspecified'),
  ('2026', 'N20.0', 'Calculus of kidney'),
  ('2026', 'N39.0', 'Urinary tract infection, site not specified'),
  ('2026', 'N40.0', 'Benign prostatic hyperplasia without lower urinary tract symptoms'),
  ('2026', 'N76.0', 'Acute vaginitis'),
  ('2026', 'N92.0', 'Excessive and frequent menstruation with regular cycle'),
  ('2026', 'N95.1', 'Menopausal and female climacteric states'),
  ('2026', 'O80', 'Encounter for full-term uncomplicated delivery'),
  ('2026', 'O99.810', 'Abnormal glucose complicating pregnancy'),
  ('2026', 'R00.0', 'Tachycardia, unspecified'),
  ('2026', 'R00.2', 'Palpitations'),
  ('2026', 'R05.9', 'Cough, unspecified'),
  ('2026', 'R06.00', 'Dyspnea, unspecified'),
  ('2026', 'R06.02', 'Shortness of breath'),
  ('2026', 'R07.9', 'Chest pain, unspecified'),
  ('2026', 'R10.13', 'Epigastric pain'),
  ('2026', 'R10.9', 'Unspecified abdominal pain'),
  ('2026', 'R11.0', 'Nausea'),
  ('2026', 'R11.2', 'Nausea with vomiting, unspecified'),
  ('2026', 'R19.7', 'Diarrhea, unspecified'),
  ('2026', 'R20.2', 'Paresthesia of skin'),
  ('2026', 'R25.1', 'Tremor, unspecified'),
  ('2026', 'R26.81', 'Unsteadiness on feet'),
  ('2026', 'R29.6', 'Repeated falls'),
  ('2026', 'R41.0', 'Disorientation, unspecified'),
  ('2026', 'R41.82', 'Altered mental status, unspecified'),
  ('2026', 'R42', 'Dizziness and giddiness'),
  ('2026', 'R50.9', 'Fever, unspecified'),
  ('2026', 'R51.9', 'Headache, unspecified'),
  ('2026', 'R53.83', 'Other fatigue'),
  ('2026', 'R55', 'Syncope and collapse'),
  ('2026', 'R56.9', 'Unspecified convulsions'),
  ('2026', 'R60.0', 'Localized edema'),
  ('2026', 'R63.4', 'Abnormal weight loss'),
  ('2026', 'R73.03', 'Prediabetes'),
  ('2026', 'R73.9', 'Hyperglycemia, unspecified'),
  ('2026', 'R79.89', 'Other specified abnormal findings of blood chemistry'),
  ('2026', 'R94.01', 'Abnormal electroencephalogram [EEG]'),
  ('2026', 'S06.0X0A', 'Concussion without loss of consciousness, initial encounter'),
  ('2026', 'S06.9X0A', 'Unspecified intracranial injury without loss of consciousness, initial encounter'),
  ('2026', 'S09.90XA', 'Unspecified injury of head, initial encounter'),
  ('2026', 'S13.4XXA', 'Sprain of ligaments of cervical spine, initial encounter'),
  ('2026', 'S52.501A', 'Unspecified fracture of the lower end of right radius, initial encounter for closed fracture'),
  ('2026', 'S62.90XA', 'Unspecified fracture of unspecified wrist and hand, initial encounter for closed fracture'),
  ('2026', 'S72.001A', 'Fracture of unspecified part of neck of right femur, initial encounter for closed fracture'),
  ('2026', 'S82.90XA', 'Unspecified fracture of unspecified lower leg, initial encounter for closed fracture'),
  ('2026', 'S93.401A', 'Sprain of unspecified ligament of right ankle, initial encounter'),
  ('2026', 'T78.40XA', 'Allergy, unspecified, initial encounter'),
  ('2026', 'T88.7XXA', 'Unspecified adverse effect of drug or medicament, initial encounter'),
  ('2026', 'U07.1', 'COVID-19'),
  ('2026', 'W19.XXXA', 'Unspecified fall, initial encounter'),
  ('2026', 'Z00.00', 'Encounter for general adult medical examination without abnormal findings'),
  ('2026', 'Z00.129', 'Encounter for routine child health examination without abnormal findings'),
  ('2026', 'Z01.419', 'Encounter for gynecological examination (general) (routine) without abnormal findings'),
  ('2026', 'Z12.31', 'Encounter for screening mammogram for malignant neoplasm of breast'),
  ('2026', 'Z13.6', 'Encounter for screening for cardiovascular disorders'),
  ('2026', 'Z20.822', 'Contact with and (suspected) exposure to COVID-19'),
  ('2026', 'Z23', 'Encounter for immunization'),
  ('2026', 'Z34.90', 'Encounter for supervision of normal pregnancy, unspecified, unspecified trimester'),
  ('2026', 'Z51.11', 'Encounter for antineoplastic chemotherapy'),
  ('2026', 'Z71.3', 'Dietary counseling and surveillance'),
  ('2026', 'Z79.01', 'Long term (current) use of anticoagulants'),
  ('2026', 'Z79.4', 'Long term (current) use of insulin'),
  ('2026', 'Z79.899', 'Other long term (current) drug therapy'),
  ('2026', 'Z86.73', 'Personal history of transient ischemic attack, and cerebral infarction without residual deficits'),
  ('2026', 'Z87.891', 'Personal history of nicotine dependence'),
  ('2026', 'Z88.0', 'Allergy status to penicillin'),
  ('2026', 'Z91.81', 'History of falling'),
  ('2026', 'Z95.1', 'Presence of aortocoronary bypass graft');

-- A starter medication catalog; RxNorm codes are ingredient-level RxCUIs.
INSERT INTO clinical.medications (name, rxnorm_code, form, strength) VALUES
  ('Metformin', '6809', 'tablet', '500 mg'),
  ('Metformin', '6809', 'tablet', '1000 mg'),
  ('Lisinopril', '29046', 'tablet', '10 mg'),
  ('Atorvastatin', '83367', 'tablet', '20 mg'),
  ('Amlodipine', '17767', 'tablet', '5 mg'),
  ('Levothyroxine', '10582', 'tablet', '50 mcg'),
  ('Omeprazole', '7646', 'capsule', '20 mg'),
  ('Simvastatin', '36567', 'tablet', '20 mg'),
  ('Metoprolol succinate', '6918', 'extended-release tablet', '50 mg'),
  ('Losartan', '52175', 'tablet', '50 mg'),
  ('Albuterol', '435', 'inhalation aerosol', '90 mcg/actuation'),
  ('Hydrochlorothiazide', '5487', 'tablet', '25 mg'),
  ('Gabapentin', '25480', 'capsule', '300 mg'),
  ('Sertraline', '36437', 'tablet', '50 mg'),
  ('Ibuprofen', '5640', 'tablet', '400 mg'),
  ('Acetaminophen', '161', 'tablet', '500 mg'),
  ('Amoxicillin', '723', 'capsule', '500 mg'),
  ('Azithromycin', '18631', 'tablet', '250 mg'),
  ('Prednisone', '8640', 'tablet', '10 mg'),
  ('Warfarin', '11289', 'tablet', '5 mg'),
  ('Insulin glargine', '274783', 'injection solution', '100 units/mL'),
  ('Furosemide', '4603', 'tablet', '40 mg'),
  ('Clopidogrel', '32968', 'tablet', '75 mg'),
  ('Escitalopram', '321988', 'tablet', '10 mg'),
  ('Fluoxetine', '4493', 'capsule', '20 mg'),
  ('Montelukast', '88249', 'tablet', '10 mg'),
  ('Pantoprazole', '40790', 'delayed-release tablet', '40 mg'),
  ('Tramadol', '10689', 'tablet', '50 mg'),
  ('Citalopram', '2556', 'tablet', '20 mg'),
  ('Rosuvastatin', '301542', 'tablet', '10 mg'),
  ('Apixaban', '1364430', 'tablet', '5 mg'),
  ('Sumatriptan', '37418', 'tablet', '50 mg'),
  ('Levetiracetam', '114477', 'tablet', '500 mg'),
  ('Topiramate', '38404', 'tablet', '25 mg'),
  ('Cephalexin', '2231', 'capsule', '500 mg'),
  ('Ciprofloxacin', '2551', 'tablet', '500 mg'),
  ('Doxycycline', '3640', 'capsule', '100 mg'),
  ('Carvedilol', '20352', 'tablet', '12.5 mg'),
  ('Spironolactone', '9997', 'tablet', '25 mg'),
  ('Tamsulosin', '77492', 'capsule', '0.4 mg'),
  ('Donepezil', '135447', 'tablet', '10 mg'),
  ('Lamotrigine', '28439', 'tablet', '100 mg');
