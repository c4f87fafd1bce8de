-- Migration: 0008-images-and-plan-review (rollback)
-- Purpose: Return medical images to metadata-only rows. Dropping the sealed content keys
--          makes stored objects unreadable, so the rollback is refused while any image has
--          content (unless forced), and it stops with a message while any image still lacks
--          content (the restored NOT NULL columns could not hold it; such images predate
--          nothing and must be completed or removed first).
--          Treatment plans lose their workflow trigger (the service still checks it).
-- Online-safe: no

DO $$
DECLARE
  pending bigint;
BEGIN
  SELECT count(*) INTO pending FROM clinical.medical_images WHERE storage_key IS NULL;
  IF pending > 0 THEN
    RAISE EXCEPTION '% medical image(s) have no uploaded content; upload or remove them before rolling back 0008', pending;
  END IF;
END
$$;

DROP TRIGGER treatment_plans_change ON clinical.treatment_plans;
DROP FUNCTION clinical.check_plan_change();
DROP FUNCTION clinical.plan_transition_allowed(clinical.plan_status, clinical.plan_status);

CREATE INDEX medical_images_case_idx ON clinical.medical_images (organization_id, case_id);
DROP INDEX clinical.medical_images_case_created_idx;
REVOKE UPDATE (content_key_encrypted) ON clinical.medical_images FROM ward_system;
REVOKE INSERT (content_key_encrypted, content_stored_at),
       UPDATE (size_bytes, sha256, storage_key, content_key_encrypted, content_stored_at, uploaded_by)
  ON clinical.medical_images FROM ward_app;
DROP TRIGGER medical_images_content ON clinical.medical_images;
DROP FUNCTION clinical.check_image_content();
ALTER TABLE clinical.medical_images
  DROP CONSTRAINT medical_images_storage_key_format,
  DROP CONSTRAINT medical_images_content_complete,
  DROP COLUMN content_stored_at,
  DROP COLUMN content_key_encrypted,
  ALTER COLUMN storage_key SET NOT NULL,
  ALTER COLUMN sha256 SET NOT NULL,
  ALTER COLUMN size_bytes SET NOT NULL;
