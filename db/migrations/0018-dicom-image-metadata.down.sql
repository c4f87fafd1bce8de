-- Migration: 0018-dicom-image-metadata (rollback)
-- Purpose: Back to the 0006 checks: a 2–4 letter modality, a free-text body part of 1 to 64
--          characters, UIDs of digits and dots. Images recorded since with a longer modality
--          (RTIMAGE, RTSTRUCT, …) do not fit the old check: the rollback stops, naming how many,
--          rather than dropping or altering them.
-- Online-safe: yes (replaced checks, validated with a scan of clinical.medical_images)

DO $$
DECLARE
  bad_modality bigint;
BEGIN
  SELECT count(*) INTO bad_modality FROM clinical.medical_images WHERE modality !~ '^[A-Z]{2,4}$';
  IF bad_modality > 0 THEN
    RAISE EXCEPTION '% medical image(s) have a modality the old check refuses; the rollback would have to change them',
      bad_modality USING ERRCODE = '23514';
  END IF;
END $$;

ALTER TABLE clinical.medical_images
  DROP CONSTRAINT medical_images_modality_check,
  DROP CONSTRAINT medical_images_body_part_check,
  DROP CONSTRAINT medical_images_study_uid_check,
  DROP CONSTRAINT medical_images_series_uid_check,
  DROP CONSTRAINT medical_images_instance_uid_check;
ALTER TABLE clinical.medical_images
  ADD CONSTRAINT medical_images_modality_check CHECK (modality ~ '^[A-Z]{2,4}$'),
  ADD CONSTRAINT medical_images_body_part_check CHECK (length(body_part) BETWEEN 1 AND 64),
  ADD CONSTRAINT medical_images_study_uid_check
    CHECK (study_uid ~ '^[0-9]+(\.[0-9]+)*$' AND length(study_uid) <= 64),
  ADD CONSTRAINT medical_images_series_uid_check
    CHECK (series_uid ~ '^[0-9]+(\.[0-9]+)*$' AND length(series_uid) <= 64),
  ADD CONSTRAINT medical_images_instance_uid_check
    CHECK (instance_uid ~ '^[0-9]+(\.[0-9]+)*$' AND length(instance_uid) <= 64);
