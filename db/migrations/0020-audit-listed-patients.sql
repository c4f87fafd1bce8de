-- Migration: 0020-audit-listed-patients
-- Purpose: A patient's access history must include the pages that listed or found the patient
--          among others. Events of lists and searches (patient.list, patient.search, case.list)
--          name every patient they disclosed in metadata.patientIds (part of the sealed leaf),
--          and only a page of exactly one patient also sets patient_id. This partial GIN index
--          makes "every event that names patient X" one bitmap OR of the patient index and this
--          one; only events that carry patientIds are indexed, so other inserts pay nothing.
-- Online-safe: no (CREATE INDEX on the partitioned audit.events builds on every partition and
--          holds a SHARE lock on each while it does, blocking audit inserts: on a large log,
--          apply it in a maintenance window)

CREATE INDEX events_listed_patients_idx ON audit.events
  USING gin ((metadata -> 'patientIds') jsonb_path_ops)
  WHERE (metadata -> 'patientIds') IS NOT NULL;
