-- Migration: 0020-audit-listed-patients
-- Purpose: A patient's access history must include the pages that listed or found the patient
--          among others. Events of lists and searches (patient.list, patient.search, case.list)
--          name every patient they disclosed in metadata.patientIds (part of the sealed leaf);
--          only a page of exactly one patient also sets patient_id. audit.event_patients holds
--          one row per (event, named patient), written by a trigger in the event's own
--          insert, so "every event that names patient X" is two B-tree lookups on uuid
--          equality. (A GIN index on the JSON cannot serve the query: under RLS PostgreSQL only
--          uses index conditions whose operators are leakproof, and jsonb containment is not.)
--          The table is derived data, an index kept as a table: the sealed events remain the
--          record, and the table can be rebuilt from them.
-- Online-safe: no (the backfill reads every audit event that names patients; on a large log,
--          apply it in a maintenance window)

CREATE TABLE audit.event_patients (
  organization_id  uuid NOT NULL,
  patient_id       uuid NOT NULL,
  occurred_at      timestamptz NOT NULL,
  event_id         bigint NOT NULL,
  PRIMARY KEY (organization_id, patient_id, occurred_at, event_id)
);
COMMENT ON TABLE audit.event_patients IS
  'Patients named by audit events that disclosed several (metadata.patientIds). ward:derived-data (trigger events_derive_patients; rebuilt from audit.events by migration 0020)';
-- Retention deletes by age (audit.expire_event_patients); rows arrive in time order.
CREATE INDEX event_patients_age_idx ON audit.event_patients USING brin (occurred_at);

ALTER TABLE audit.event_patients ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.event_patients FORCE ROW LEVEL SECURITY;
CREATE POLICY event_patients_tenant ON audit.event_patients FOR SELECT
  USING (organization_id = (SELECT ward.current_org_id()));
-- Written only by the trigger below and removed only by retention, both running as the owner.
CREATE POLICY event_patients_derive ON audit.event_patients FOR INSERT TO ward_owner
  WITH CHECK (true);
CREATE POLICY event_patients_expire ON audit.event_patients FOR DELETE TO ward_owner
  USING (occurred_at < now() - interval '6 years');
CREATE POLICY event_patients_expire_read ON audit.event_patients FOR SELECT TO ward_owner
  USING (occurred_at < now() - interval '6 years');

-- Copies the patients an event names into audit.event_patients, in the inserting statement:
-- an event and its rows commit or vanish together. Malformed entries are skipped (the
-- metadata is the application's; the sealed event keeps them as they were).
CREATE FUNCTION audit.derive_event_patients() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$
BEGIN
  INSERT INTO audit.event_patients (organization_id, patient_id, occurred_at, event_id)
  SELECT DISTINCT NEW.organization_id, x::uuid, NEW.occurred_at, NEW.id
    FROM jsonb_array_elements_text(NEW.metadata -> 'patientIds') x
   WHERE x ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit.derive_event_patients() FROM PUBLIC;
CREATE TRIGGER events_derive_patients AFTER INSERT ON audit.events
  FOR EACH ROW WHEN (jsonb_typeof(NEW.metadata -> 'patientIds') = 'array')
  EXECUTE FUNCTION audit.derive_event_patients();

-- Removes rows whose events are gone: older than the retention period (never less than six
-- years) and of a month whose partition retention has dropped. Called by `ward audit
-- retention` after each drop.
CREATE FUNCTION audit.expire_event_patients(p_years integer DEFAULT 6) RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$
DECLARE
  removed bigint;
BEGIN
  DELETE FROM audit.event_patients p
   WHERE p.occurred_at < now() - make_interval(years => greatest(p_years, 6))
     AND to_regclass('audit.events_' || to_char(p.occurred_at AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL;
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END
$$;
REVOKE ALL ON FUNCTION audit.expire_event_patients(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.expire_event_patients(integer) TO ward_system;

-- Nobody edits it: the app roles only read, and UPDATE and TRUNCATE are refused for every role.
CREATE TRIGGER event_patients_immutable BEFORE UPDATE ON audit.event_patients
  FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER event_patients_no_truncate BEFORE TRUNCATE ON audit.event_patients
  FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();
GRANT SELECT ON audit.event_patients TO ward_app, ward_auditor, ward_system;

-- Events written before this migration: the owner reads the whole log once (RLS is lifted for
-- it inside this transaction only).
ALTER TABLE audit.events NO FORCE ROW LEVEL SECURITY;
INSERT INTO audit.event_patients (organization_id, patient_id, occurred_at, event_id)
SELECT DISTINCT e.organization_id, x::uuid, e.occurred_at, e.id
  FROM audit.events e, jsonb_array_elements_text(e.metadata -> 'patientIds') x
 WHERE jsonb_typeof(e.metadata -> 'patientIds') = 'array'
   AND x ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
ALTER TABLE audit.events FORCE ROW LEVEL SECURITY;
