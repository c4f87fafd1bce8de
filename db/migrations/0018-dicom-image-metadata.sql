-- Migration: 0018-dicom-image-metadata
-- Purpose: Image metadata follows DICOM. The modality is a Code String (CS) of 2 to 16 of
--          A–Z, 0–9, underscore and space (RTIMAGE, RTSTRUCT, SEG were refused by the old
--          2–4 letter check); the body part, stored unencrypted, is a CS of 1 to 16 such
--          characters instead of free text that could carry patient details; a UID component
--          has no leading zero unless it is exactly "0". Rows written before that break the new
--          rules are not rewritten (a UID or a body part cannot be corrected by a machine):
--          the migration stops, naming only how many rows of each kind need attention.
-- Online-safe: yes (replaced checks, validated with a scan of clinical.medical_images)

DO $$
DECLARE
  bad_body_part bigint;
  bad_uid bigint;
BEGIN
  SELECT count(*) FILTER (WHERE body_part !~ '^[A-Z0-9_]([A-Z0-9_ ]{0,14}[A-Z0-9_])?$'),
         count(*) FILTER (WHERE study_uid !~ '^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$'
                             OR series_uid !~ '^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$'
                             OR instance_uid !~ '^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$')
    INTO bad_body_part, bad_uid
    FROM clinical.medical_images;
  IF bad_body_part > 0 OR bad_uid > 0 THEN
    RAISE EXCEPTION '% medical image(s) have a body part that is not a DICOM code string and % a UID with a leading-zero component; correct them, then migrate again',
      bad_body_part, bad_uid USING ERRCODE = '23514';
  END IF;
END $$;

ALTER TABLE clinical.medical_images
  DROP CONSTRAINT medical_images_modality_check,
  DROP CONSTRAINT medical_images_body_part_check,
  DROP CONSTRAINT medical_images_study_uid_check,
  DROP CONSTRAINT medical_images_series_uid_check,
  DROP CONSTRAINT medical_images_instance_uid_check;
ALTER TABLE clinical.medical_images
  ADD CONSTRAINT medical_images_modality_check
    CHECK (modality ~ '^[A-Z0-9_][A-Z0-9_ ]{0,14}[A-Z0-9_]$'),
  ADD CONSTRAINT medical_images_body_part_check
    CHECK (body_part ~ '^[A-Z0-9_]([A-Z0-9_ ]{0,14}[A-Z0-9_])?$'),
  ADD CONSTRAINT medical_images_study_uid_check
    CHECK (study_uid ~ '^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$' AND length(study_uid) <= 64),
  ADD CONSTRAINT medical_images_series_uid_check
    CHECK (series_uid ~ '^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$' AND length(series_uid) <= 64),
  ADD CONSTRAINT medical_images_instance_uid_check
    CHECK (instance_uid ~ '^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$' AND length(instance_uid) <= 64);
