-- Migration: 0015-security-review-fixes (rollback)
-- Purpose: Return to the policies, functions and grants of 0004, 0009 and 0011 (reintroducing
--          the defects 0015 closed: readable partitions, the retention bypass, forgeable actors
--          and disclosures, table-level role inserts and reversible revocation). Audit rows,
--          export records and grants are kept as they are.
-- Online-safe: yes

DROP TRIGGER access_grants_revocation ON ward.access_grants;
DROP FUNCTION ward.guard_grant_revocation();

REVOKE INSERT (organization_id, id, name, description) ON ward.roles FROM ward_app;
REVOKE INSERT (organization_id, role_id, permission_id) ON ward.role_permissions FROM ward_app;
REVOKE INSERT (organization_id, user_id, role_id, granted_by) ON ward.user_roles FROM ward_app;
GRANT INSERT ON ward.roles, ward.role_permissions, ward.user_roles TO ward_app;

DROP POLICY events_disclosure ON audit.events;
CREATE POLICY events_disclosure ON audit.events FOR INSERT
  WITH CHECK (event_type = 'patient.disclosure'
              AND action = 'R'
              AND outcome = '0'
              AND patient_id IS NOT NULL
              AND organization_id <> (SELECT ward.current_org_id())
              AND actor_type = ward.current_actor_type()
              AND actor_id IS NOT DISTINCT FROM ward.current_user_id()
              AND session_id IS NOT DISTINCT FROM ward.current_session_id()
              AND ward.grant_allows(organization_id, patient_id, 'patient:read'));
DROP FUNCTION ward.grant_discloses(uuid, uuid, text[]);

DROP POLICY events_tenant ON audit.events;
CREATE POLICY events_tenant ON audit.events
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));
DROP FUNCTION audit.unauthenticated_actor_ok(uuid, uuid, text, text, text, text);

CREATE OR REPLACE FUNCTION audit.partition_exports_guard() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.dropped_at IS NULL AND NEW.dropped_at IS NOT NULL
     AND (NEW.partition_name, NEW.range_from, NEW.range_to, NEW.row_count, NEW.sha256, NEW.location, NEW.exported_at)
         IS NOT DISTINCT FROM
         (OLD.partition_name, OLD.range_from, OLD.range_to, OLD.row_count, OLD.sha256, OLD.location, OLD.exported_at) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit records are append-only: % on audit.partition_exports is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER partition_exports_check ON audit.partition_exports;
DROP FUNCTION audit.partition_exports_check();

DROP FUNCTION audit.drop_exported_partition(text, integer);
CREATE FUNCTION audit.drop_exported_partition(p_name text) RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$
DECLARE
  x audit.partition_exports;
  n bigint;
BEGIN
  SELECT * INTO x FROM audit.partition_exports WHERE partition_name = p_name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partition % has no recorded export; export it first', p_name
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF x.range_to > now() - interval '6 years' THEN
    RAISE EXCEPTION 'partition % is inside the six-year retention period', p_name
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF to_regclass('audit.' || p_name) IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format('SELECT count(*) FROM audit.%I', p_name) INTO n;
  IF n <> x.row_count THEN
    RAISE EXCEPTION 'partition % holds % rows but its export recorded %', p_name, n, x.row_count
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  EXECUTE format('ALTER TABLE audit.events DETACH PARTITION audit.%I', p_name);
  EXECUTE format('DROP TABLE audit.%I', p_name);
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION audit.drop_exported_partition(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.drop_exported_partition(text) TO ward_system;

CREATE OR REPLACE FUNCTION audit.ensure_partitions(p_from date, p_months integer) RETURNS integer
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$
DECLARE
  m date;
  part text;
  created integer := 0;
BEGIN
  IF p_months < 1 OR p_months > 120 THEN
    RAISE EXCEPTION 'p_months must be between 1 and 120' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR i IN 0 .. p_months - 1 LOOP
    m := (date_trunc('month', p_from::timestamp) + make_interval(months => i))::date;
    part := 'events_' || to_char(m, 'YYYY_MM');
    CONTINUE WHEN to_regclass('audit.' || part) IS NOT NULL
              OR EXISTS (SELECT 1 FROM audit.partition_exports x WHERE x.partition_name = part);
    EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.events FOR VALUES FROM (%L) TO (%L)',
                   part, (m::timestamp AT TIME ZONE 'UTC'),
                   ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
    EXECUTE format('CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.%I
                      FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change()', part);
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;
DROP FUNCTION audit.partition_month(text);

DO $$
DECLARE
  p text;
BEGIN
  FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'audit.events'::regclass LOOP
    EXECUTE format('DROP POLICY IF EXISTS partition_tenant ON audit.%I', p);
    EXECUTE format('ALTER TABLE audit.%I NO FORCE ROW LEVEL SECURITY', p);
    EXECUTE format('ALTER TABLE audit.%I DISABLE ROW LEVEL SECURITY', p);
  END LOOP;
END
$$;
DROP FUNCTION audit.secure_partition(text);
