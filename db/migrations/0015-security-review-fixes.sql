-- Migration: 0015-security-review-fixes
-- Purpose: Close the database defects a security review found: audit partitions readable by
--          their owner, a retention guard that trusted caller-written export rows, forgeable
--          actors and disclosures in audit events, and loose identity grants.
-- Online-safe: yes (policies, functions, triggers and grants are replaced; each audit partition
--              is altered under a brief ACCESS EXCLUSIVE lock, one at a time)

-- What changes, by section below:
--   (1) audit partitions get RLS enabled and forced (existing and future ones), so the owner
--       cannot read every tenant's events through audit.events_YYYY_MM;
--   (2) retention compares a partition's real bounds (pg_get_expr of relpartbound), not a
--       caller-written export row: an export row must describe exactly its month and lie past
--       the retention floor, dropped_at is stamped only once the partition is gone, the drop
--       honours the configured retention period, and ensure_partitions is never blocked by an
--       export row for a month that is still retained;
--   (3) a tenant's own audit events are bound to the transaction's actor, actor type and
--       session (an explicit actor only before authentication, for auth events, naming a user
--       of the organization);
--   (4) disclosure events carry the request's purpose and at most the fields the grant discloses;
--   (5) ward_app may no longer set roles.is_builtin nor back-date user_roles.granted_at or
--       role_permissions.created_at; a revoked access grant stays revoked.

-- (1) Partitions are reachable only through the parent: RLS forced, with a read policy that
-- mirrors the parent's tenant policy (queries through the parent apply the parent's policies;
-- these apply to anyone who names a partition directly, the owner included). No INSERT
-- policy: rows enter through the parent, whose checks apply to routed rows.
CREATE FUNCTION audit.secure_partition(p_name text) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  EXECUTE format('ALTER TABLE audit.%I ENABLE ROW LEVEL SECURITY', p_name);
  EXECUTE format('ALTER TABLE audit.%I FORCE ROW LEVEL SECURITY', p_name);
  IF NOT EXISTS (SELECT 1 FROM pg_policy
                  WHERE polrelid = format('audit.%I', p_name)::regclass AND polname = 'partition_tenant') THEN
    EXECUTE format('CREATE POLICY partition_tenant ON audit.%I FOR SELECT
                      USING (organization_id = (SELECT ward.current_org_id()))', p_name);
  END IF;
END
$$;
REVOKE ALL ON FUNCTION audit.secure_partition(text) FROM PUBLIC;

SELECT audit.secure_partition(c.relname)
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'audit.events'::regclass;

-- (2) The month a partition name stands for, as [lo, hi) in UTC.
CREATE FUNCTION audit.partition_month(p_name text, OUT lo timestamptz, OUT hi timestamptz)
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog
  AS $$
  SELECT (to_date(substr(p_name, 8), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC'),
         ((to_date(substr(p_name, 8), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC')
$$;

-- Creates the monthly partitions (as before) with forced RLS. A month is skipped only when its
-- partition exists, or when it lies past the six-year floor and was exported and dropped by
-- retention: an export row can never stop the current month or a future one from existing.
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
              OR ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= now() - interval '6 years'
                  AND EXISTS (SELECT 1 FROM audit.partition_exports x
                               WHERE x.partition_name = part AND x.dropped_at IS NOT NULL));
    EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.events FOR VALUES FROM (%L) TO (%L)',
                   part, (m::timestamp AT TIME ZONE 'UTC'),
                   ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
    EXECUTE format('CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.%I
                      FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change()', part);
    PERFORM audit.secure_partition(part);
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

-- Detaches and drops one monthly partition. Refuses unless: the relation really is a partition
-- of audit.events whose bounds (pg_get_expr of relpartbound, not any caller-written row) are
-- exactly the month its name says; its export is recorded for exactly those bounds with the
-- same row count; and the month ended at least p_years (the configured retention, never less
-- than six, HIPAA 164.316(b)(2)(i)) ago. The settings pin how the bounds are rendered.
DROP FUNCTION audit.drop_exported_partition(text);
CREATE FUNCTION audit.drop_exported_partition(p_name text, p_years integer DEFAULT 6) RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog
  SET datestyle = 'ISO, YMD'
  SET timezone = 'UTC'
  AS $$
DECLARE
  x audit.partition_exports;
  rel regclass;
  bound text;
  b text[];
  want record;
  n bigint;
BEGIN
  IF p_years IS NULL OR p_years < 6 THEN
    RAISE EXCEPTION 'the retention period is at least six years' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_name !~ '^events_[0-9]{4}_(0[1-9]|1[0-2])$' THEN
    RAISE EXCEPTION '% is not an audit partition name', p_name USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO x FROM audit.partition_exports WHERE partition_name = p_name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partition % has no recorded export; export it first', p_name
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  rel := to_regclass('audit.' || p_name);
  IF rel IS NULL THEN
    RETURN 0;
  END IF;
  SELECT pg_get_expr(c.relpartbound, c.oid) INTO bound
    FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
   WHERE c.oid = rel AND i.inhparent = 'audit.events'::regclass;
  b := regexp_match(bound, '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$');
  SELECT * INTO want FROM audit.partition_month(p_name);
  IF b IS NULL OR b[1]::timestamptz <> want.lo OR b[2]::timestamptz <> want.hi THEN
    RAISE EXCEPTION 'partition % does not cover exactly its month (%)', p_name, coalesce(bound, 'not a partition')
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF x.range_from <> want.lo OR x.range_to <> want.hi THEN
    RAISE EXCEPTION 'the export of % does not describe the partition''s range', p_name
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF want.hi > now() - make_interval(years => p_years) THEN
    RAISE EXCEPTION 'partition % is inside the % year retention period', p_name, p_years
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  -- Forced RLS would hide the rows from the owner; the partition is dropped below in this
  -- same transaction (or, on any error, the change rolls back with everything else).
  EXECUTE format('ALTER TABLE audit.%I NO FORCE ROW LEVEL SECURITY', p_name);
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
REVOKE ALL ON FUNCTION audit.drop_exported_partition(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.drop_exported_partition(text, integer) TO ward_system;

-- An export row describes exactly the month its name says, past the six-year floor, and is
-- recorded before the drop (dropped_at is stamped afterwards, see the guard below).
CREATE FUNCTION audit.partition_exports_check() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
DECLARE
  want record;
BEGIN
  IF NEW.partition_name !~ '^events_[0-9]{4}_(0[1-9]|1[0-2])$' THEN
    RAISE EXCEPTION 'an export names a monthly partition' USING ERRCODE = 'check_violation';
  END IF;
  SELECT * INTO want FROM audit.partition_month(NEW.partition_name);
  IF NEW.range_from <> want.lo OR NEW.range_to <> want.hi THEN
    RAISE EXCEPTION 'the export of % must cover exactly its month', NEW.partition_name
      USING ERRCODE = 'check_violation';
  END IF;
  IF want.hi > now() - interval '6 years' THEN
    RAISE EXCEPTION 'partition % is inside the six-year retention period', NEW.partition_name
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.dropped_at IS NOT NULL THEN
    RAISE EXCEPTION 'an export is recorded before its partition is dropped' USING ERRCODE = 'check_violation';
  END IF;
  NEW.exported_at := now();
  RETURN NEW;
END
$$;
CREATE TRIGGER partition_exports_check BEFORE INSERT ON audit.partition_exports
  FOR EACH ROW EXECUTE FUNCTION audit.partition_exports_check();

-- Only the drop timestamp may be stamped after the fact, and only once the partition is gone
-- (verify treats a month with dropped_at as archived: chain and signature only).
CREATE OR REPLACE FUNCTION audit.partition_exports_guard() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.dropped_at IS NULL AND NEW.dropped_at IS NOT NULL
     AND to_regclass('audit.' || OLD.partition_name) IS NULL
     AND (NEW.partition_name, NEW.range_from, NEW.range_to, NEW.row_count, NEW.sha256, NEW.location, NEW.exported_at)
         IS NOT DISTINCT FROM
         (OLD.partition_name, OLD.range_from, OLD.range_to, OLD.row_count, OLD.sha256, OLD.location, OLD.exported_at) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit records are append-only: % on audit.partition_exports is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- (3) A tenant writes its own chain only as itself. With a user in the context, the event's
-- actor is that user; actor type and session are always the context's. Before authentication
-- (no user in the context) an event may name an actor only to say who an authentication
-- event is about: a failed attempt on an account of the organization, or the login that
-- opened that user's session in this very transaction (MFA completion).
CREATE FUNCTION audit.unauthenticated_actor_ok(p_org uuid, p_actor uuid, p_event_type text,
                                               p_outcome text, p_entity_type text, p_entity_id text)
  RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
  AS $$
  SELECT p_event_type LIKE 'auth.%'
     AND EXISTS (SELECT 1 FROM ward.users u WHERE u.organization_id = p_org AND u.id = p_actor)
     AND (p_outcome <> '0'
          OR (p_event_type = 'auth.login' AND p_entity_type = 'Session'
              AND EXISTS (SELECT 1 FROM ward.sessions s
                           WHERE s.organization_id = p_org
                             AND s.id = CASE WHEN p_entity_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                             THEN p_entity_id::uuid END
                             AND s.user_id = p_actor
                             AND s.created_at = now())))
$$;
REVOKE ALL ON FUNCTION audit.unauthenticated_actor_ok(uuid, uuid, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.unauthenticated_actor_ok(uuid, uuid, text, text, text, text) TO ward_app;

DROP POLICY events_tenant ON audit.events;
CREATE POLICY events_tenant ON audit.events
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id())
              AND actor_type = coalesce((SELECT ward.current_actor_type()), 'system')
              AND session_id IS NOT DISTINCT FROM (SELECT ward.current_session_id())
              AND CASE WHEN (SELECT ward.current_user_id()) IS NOT NULL
                       THEN actor_id IS NOT DISTINCT FROM (SELECT ward.current_user_id())
                       ELSE actor_id IS NULL
                            OR audit.unauthenticated_actor_ok(organization_id, actor_id, event_type,
                                                              outcome, entity_type, entity_id)
                  END);

-- (4) A disclosure names the request's purpose and only fields a live grant discloses.
CREATE FUNCTION ward.grant_discloses(p_owner uuid, p_patient uuid, p_fields text[]) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog
  AS $$
  SELECT ward.grant_allows(p_owner, p_patient, 'patient:read')
     AND p_fields <@ ARRAY(
           SELECT f FROM ward.access_grants g, unnest(g.fields) f
            WHERE g.organization_id = p_owner
              AND g.grantee_organization_id = ward.current_org_id()
              AND g.patient_id = p_patient
              AND 'patient:read' = ANY (g.permissions)
              AND ward.current_purpose() = ANY (g.purposes)
              AND g.revoked_at IS NULL
              AND now() >= g.valid_from AND now() < g.valid_until)
$$;
REVOKE ALL ON FUNCTION ward.grant_discloses(uuid, uuid, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ward.grant_discloses(uuid, uuid, text[]) TO ward_app, ward_system;

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
              AND purpose_of_use = (SELECT ward.current_purpose())
              AND ward.grant_discloses(organization_id, patient_id, phi_fields));

-- (5) Column-listed INSERT: is_builtin, granted_at and created_at take their defaults.
REVOKE INSERT ON ward.roles, ward.role_permissions, ward.user_roles FROM ward_app;
GRANT INSERT (organization_id, id, name, description) ON ward.roles TO ward_app;
GRANT INSERT (organization_id, role_id, permission_id) ON ward.role_permissions TO ward_app;
GRANT INSERT (organization_id, user_id, role_id, granted_by) ON ward.user_roles TO ward_app;

-- Revocation is one-way, for every role: once revoked_at is set, it and revoked_by never change.
CREATE FUNCTION ward.guard_grant_revocation() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF OLD.revoked_at IS NOT NULL
     AND (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revoked_by IS DISTINCT FROM OLD.revoked_by) THEN
    RAISE EXCEPTION 'a revoked access grant stays revoked' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER access_grants_revocation BEFORE UPDATE ON ward.access_grants
  FOR EACH ROW EXECUTE FUNCTION ward.guard_grant_revocation();
