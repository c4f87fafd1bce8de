-- Migration: 0004-audit-trail
-- Purpose: Tamper-evident audit trail: append-only events partitioned by month, signed Merkle
--          checkpoints chained per organization, partition upkeep and export-before-drop
--          retention, and the audit permissions (HIPAA 164.312(b), seeds 1, 2 and 3).
-- Online-safe: yes (creates new objects; adds one CHECK to ward.organizations, which holds few rows)

CREATE SCHEMA audit;
GRANT USAGE ON SCHEMA audit TO ward_app, ward_auditor, ward_system;

-- The platform chain: events and checkpoints of work that acts for no organization (asSystem
-- without orgId, unauthenticated requests) carry this reserved id, so organization_id stays
-- NOT NULL and leads every key. No organization may ever take it.
ALTER TABLE ward.organizations
  ADD CONSTRAINT organizations_id_not_platform CHECK (id <> '00000000-0000-0000-0000-000000000000');

CREATE SEQUENCE audit.events_id_seq AS bigint;

-- One row per access or change of protected data, authentication event, denied request and
-- RLS bypass. Vocabulary follows FHIR AuditEvent (action C/R/U/D/E, outcome 0/4/8/12) and HL7
-- purpose of use. Context columns default to the transaction's request context. id, tx_id
-- and occurred_at are not grantable: the database assigns them, so no caller can place an
-- event into an already sealed batch (batches are defined by tx_id) or back-date it.
CREATE TABLE audit.events (
  organization_id  uuid NOT NULL
                     DEFAULT coalesce(ward.current_org_id(), '00000000-0000-0000-0000-000000000000'),
  id               bigint NOT NULL DEFAULT nextval('audit.events_id_seq'),
  occurred_at      timestamptz NOT NULL DEFAULT now(),
  tx_id            xid8 NOT NULL DEFAULT pg_current_xact_id(),
  actor_type       text NOT NULL DEFAULT coalesce(ward.current_actor_type(), 'system')
                     CHECK (actor_type IN ('user', 'agent', 'system')),
  actor_id         uuid DEFAULT ward.current_user_id(),
  on_behalf_of     uuid,
  session_id       uuid DEFAULT ward.current_session_id(),
  ip               inet,
  user_agent       text CHECK (length(user_agent) <= 512),
  action           text NOT NULL CHECK (action IN ('C', 'R', 'U', 'D', 'E')),
  event_type       text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$' AND length(event_type) <= 64),
  entity_type      text CHECK (length(entity_type) <= 64),
  entity_id        text CHECK (length(entity_id) <= 128),
  patient_id       uuid,
  phi_fields       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(phi_fields) <= 64),
  purpose_of_use   text DEFAULT ward.current_purpose() CHECK (purpose_of_use ~ '^[A-Z][A-Z0-9]{1,15}$'),
  outcome          text NOT NULL DEFAULT '0' CHECK (outcome IN ('0', '4', '8', '12')),
  outcome_reason   text CHECK (length(outcome_reason) <= 200),
  request_id       text DEFAULT ward.current_request_id() CHECK (length(request_id) <= 128),
  metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  PRIMARY KEY (organization_id, id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- The questions people ask: by patient, by actor, by entity, by time (the primary key and
-- partition pruning serve time ranges), plus the sealer's and verifier's walk by transaction.
CREATE INDEX events_patient_idx ON audit.events (organization_id, patient_id, occurred_at DESC)
  WHERE patient_id IS NOT NULL;
CREATE INDEX events_actor_idx ON audit.events (organization_id, actor_id, occurred_at DESC);
CREATE INDEX events_entity_idx ON audit.events (organization_id, entity_type, entity_id, occurred_at DESC);
CREATE INDEX events_tx_idx ON audit.events (organization_id, tx_id);

-- Signed Merkle checkpoints, one chain per organization (seq 1, 2, …). A checkpoint covers
-- the organization's events whose tx_id is in [tx_from, tx_to) and whose occurred_at falls in
-- `month`; checkpoints of one range share tx_from/tx_to and ascend by month. event_ids and
-- leaf_hashes (8 and 32 bytes per leaf, in leaf order) let verify name the exact event that
-- changed and let proofs be served without rehashing the batch; the signed root binds them.
CREATE TABLE audit.checkpoints (
  organization_id  uuid NOT NULL,
  seq              bigint NOT NULL CHECK (seq >= 1),
  month            date NOT NULL CHECK (extract(day FROM month) = 1),
  tx_from          xid8 NOT NULL,
  tx_to            xid8 NOT NULL,
  size             integer NOT NULL CHECK (size >= 1),
  first_id         bigint NOT NULL,
  last_id          bigint NOT NULL,
  root             bytea NOT NULL CHECK (length(root) = 32),
  prev_hash        bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash             bytea NOT NULL CHECK (length(hash) = 32),
  key_id           text NOT NULL CHECK (length(key_id) <= 64),
  signature        bytea NOT NULL CHECK (length(signature) = 64),
  sealed_at        timestamptz NOT NULL,
  event_ids        bytea NOT NULL,
  leaf_hashes      bytea NOT NULL,
  PRIMARY KEY (organization_id, seq),
  CHECK (tx_from < tx_to),
  CHECK (length(event_ids) = 8 * size AND length(leaf_hashes) = 32 * size)
);
CREATE INDEX checkpoints_range_idx ON audit.checkpoints (organization_id, tx_from, month);

-- Public keys that signed checkpoints, for operators. Verification never trusts this table:
-- it trusts the configured signer and keys given on the command line.
CREATE TABLE audit.signing_keys (
  key_id      text PRIMARY KEY CHECK (length(key_id) <= 64),
  algorithm   text NOT NULL CHECK (algorithm = 'ed25519'),
  public_key  bytea NOT NULL CHECK (length(public_key) = 32),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Partitions exported by `ward audit retention`. A partition can be dropped only after its
-- export is recorded here with a matching row count (see audit.drop_exported_partition).
CREATE TABLE audit.partition_exports (
  partition_name  text PRIMARY KEY CHECK (partition_name ~ '^events_[0-9]{4}_[0-9]{2}$'),
  range_from      timestamptz NOT NULL,
  range_to        timestamptz NOT NULL,
  row_count       bigint NOT NULL CHECK (row_count >= 0),
  sha256          bytea NOT NULL CHECK (length(sha256) = 32),
  location        text NOT NULL CHECK (length(location) <= 1024),
  exported_at     timestamptz NOT NULL DEFAULT now(),
  dropped_at      timestamptz
);

-- Immutability: every role, the owner included, is refused UPDATE, DELETE and TRUNCATE.
-- (A superuser can still disable triggers; that is what sealing and `ward audit verify` catch.)
CREATE FUNCTION audit.forbid_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON audit.events
  FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
  FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER checkpoints_immutable BEFORE UPDATE OR DELETE ON audit.checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON audit.checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER signing_keys_immutable BEFORE UPDATE OR DELETE ON audit.signing_keys
  FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON audit.signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();

-- Creates the monthly partitions from p_from for p_months months (idempotent). Runs as the
-- owner so that the runtime roles need no DDL rights; row triggers are cloned from the
-- parent, the TRUNCATE trigger is not, so it is added per partition. Partitions get no
-- grants: queries go through the parent, whose policies apply.
CREATE FUNCTION audit.ensure_partitions(p_from date, p_months integer) RETURNS integer
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

-- Detaches and drops one monthly partition, but only when its export is recorded with the
-- same row count and the month ended at least six years ago (HIPAA 164.316(b)(2)(i)).
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

-- Only the export timestamp may be stamped after the fact, by the function above's caller.
CREATE FUNCTION audit.partition_exports_guard() RETURNS trigger
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
CREATE TRIGGER partition_exports_guard BEFORE UPDATE OR DELETE ON audit.partition_exports
  FOR EACH ROW EXECUTE FUNCTION audit.partition_exports_guard();
CREATE TRIGGER partition_exports_no_truncate BEFORE TRUNCATE ON audit.partition_exports
  FOR EACH STATEMENT EXECUTE FUNCTION audit.forbid_change();

-- The current month and the next three exist from the start; a job keeps them ahead.
SELECT audit.ensure_partitions(current_date, 4);

-- Row-level security, enabled and forced, policies before grants. A tenant reads and writes
-- only its own chain; the platform chain is visible to ward_system alone.
ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant ON audit.events
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

ALTER TABLE audit.checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY checkpoints_tenant ON audit.checkpoints
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

-- Grants: INSERT and SELECT only, INSERT without id, tx_id and occurred_at.
GRANT SELECT,
      INSERT (organization_id, actor_type, actor_id, on_behalf_of, session_id, ip, user_agent,
              action, event_type, entity_type, entity_id, patient_id, phi_fields,
              purpose_of_use, outcome, outcome_reason, request_id, metadata)
  ON audit.events TO ward_app, ward_system;
GRANT SELECT ON audit.events TO ward_auditor;
GRANT USAGE ON SEQUENCE audit.events_id_seq TO ward_app, ward_system;
GRANT SELECT ON audit.checkpoints, audit.signing_keys TO ward_app, ward_auditor;
GRANT SELECT, INSERT ON audit.checkpoints, audit.signing_keys TO ward_system;
GRANT SELECT, INSERT, UPDATE (dropped_at) ON audit.partition_exports TO ward_system;
GRANT SELECT ON audit.partition_exports TO ward_auditor;
REVOKE ALL ON FUNCTION audit.ensure_partitions(date, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.drop_exported_partition(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.ensure_partitions(date, integer) TO ward_system;
GRANT EXECUTE ON FUNCTION audit.drop_exported_partition(text) TO ward_system;

INSERT INTO ward.permissions (id, resource, action, description) VALUES
  ('audit:read',   'audit', 'read',   'Search and read audit events of the organization'),
  ('audit:verify', 'audit', 'verify', 'Obtain inclusion proofs and checkpoints of the audit log');

INSERT INTO ward.default_role_permissions (role_name, permission_id) VALUES
  ('auditor', 'audit:read'), ('auditor', 'audit:verify'), ('admin', 'audit:read');
