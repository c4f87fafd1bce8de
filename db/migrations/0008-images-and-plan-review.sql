-- Migration: 0008-images-and-plan-review
-- Purpose: Medical images become two-step resources: the metadata row is created first (no
--          PHI in a URL or header), and the encrypted file is uploaded to it once. The content
--          columns (size, SHA-256, storage key) are therefore empty until the upload commits,
--          and the row gains the object's content key, sealed with the organization's data key
--          like any PHI field (so `ward keys status`, retire and rewrap account for objects),
--          and when the content was stored. Content is write-once; only the rewrap job may
--          re-seal the content key. Treatment plans get their workflow in the database too:
--          draft → active → completed, draft or active → cancelled; a plan is reviewed once,
--          by someone other than its author, and only a reviewed plan becomes active.
-- Online-safe: yes (nullable columns; the CHECK scans a table that no earlier release wrote)

ALTER TABLE clinical.medical_images
  ALTER COLUMN size_bytes DROP NOT NULL,
  ALTER COLUMN sha256 DROP NOT NULL,
  ALTER COLUMN storage_key DROP NOT NULL,
  ADD COLUMN content_key_encrypted bytea,
  ADD COLUMN content_stored_at timestamptz,
  ADD CONSTRAINT medical_images_content_complete CHECK (
    (storage_key IS NULL) = (size_bytes IS NULL)
    AND (storage_key IS NULL) = (sha256 IS NULL)
    AND (storage_key IS NULL) = (content_key_encrypted IS NULL)
    AND (storage_key IS NULL) = (content_stored_at IS NULL)),
  ADD CONSTRAINT medical_images_storage_key_format CHECK (storage_key ~ '^[A-Za-z0-9/._-]+$');

COMMENT ON COLUMN clinical.medical_images.content_key_encrypted IS
  'ward:encrypted per-object content key (AES-256-GCM), sealed with the organization data key';

-- Stored content never changes: a new file is a new image. The rewrap job (ward_system) may
-- replace the sealed content key with one under the primary key version, nothing else.
CREATE FUNCTION clinical.check_image_content() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  IF OLD.storage_key IS NOT NULL AND (
       NEW.storage_key IS DISTINCT FROM OLD.storage_key
       OR NEW.sha256 IS DISTINCT FROM OLD.sha256
       OR NEW.size_bytes IS DISTINCT FROM OLD.size_bytes
       OR NEW.content_stored_at IS DISTINCT FROM OLD.content_stored_at
       OR NEW.content_type IS DISTINCT FROM OLD.content_type
       OR (NEW.content_key_encrypted IS DISTINCT FROM OLD.content_key_encrypted
           AND current_user <> 'ward_system')) THEN
    RAISE EXCEPTION 'the content of medical image % is stored and cannot change', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER medical_images_content BEFORE UPDATE ON clinical.medical_images
  FOR EACH ROW EXECUTE FUNCTION clinical.check_image_content();

GRANT INSERT (content_key_encrypted, content_stored_at),
      UPDATE (size_bytes, sha256, storage_key, content_key_encrypted, content_stored_at, uploaded_by)
  ON clinical.medical_images TO ward_app;
GRANT UPDATE (content_key_encrypted) ON clinical.medical_images TO ward_system;

-- Lists of a case's images and of an organization's images, newest first.
CREATE INDEX medical_images_case_created_idx
  ON clinical.medical_images (organization_id, case_id, created_at, id);
DROP INDEX clinical.medical_images_case_idx;

-- The treatment-plan workflow (mirrored by the service).
CREATE FUNCTION clinical.plan_transition_allowed(p_from clinical.plan_status, p_to clinical.plan_status)
  RETURNS boolean
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog
  AS $$
  SELECT p_from = p_to
      OR (p_from, p_to) IN (('draft'::clinical.plan_status, 'active'::clinical.plan_status),
                            ('draft', 'cancelled'), ('active', 'completed'), ('active', 'cancelled'))
$$;

CREATE FUNCTION clinical.check_plan_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NOT clinical.plan_transition_allowed(OLD.status, NEW.status) THEN
    RAISE EXCEPTION 'invalid treatment plan status transition' USING ERRCODE = '23514';
  END IF;
  IF NEW.status = 'active' AND OLD.status <> 'active' AND NEW.reviewed_at IS NULL THEN
    RAISE EXCEPTION 'a treatment plan is reviewed before it becomes active' USING ERRCODE = '23514';
  END IF;
  IF OLD.reviewer_id IS NOT NULL AND (NEW.reviewer_id IS DISTINCT FROM OLD.reviewer_id
                                      OR NEW.reviewed_at IS DISTINCT FROM OLD.reviewed_at) THEN
    RAISE EXCEPTION 'a treatment plan is reviewed once' USING ERRCODE = '23514';
  END IF;
  IF NEW.reviewer_id IS NOT NULL AND NEW.reviewer_id = NEW.author_id THEN
    RAISE EXCEPTION 'the author of a treatment plan cannot review it' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER treatment_plans_change BEFORE UPDATE ON clinical.treatment_plans
  FOR EACH ROW EXECUTE FUNCTION clinical.check_plan_change();
GRANT EXECUTE ON FUNCTION clinical.plan_transition_allowed(clinical.plan_status, clinical.plan_status)
  TO ward_app;
