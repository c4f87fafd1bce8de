-- Migration: 0024-cursor-keys
-- Purpose: Keep the key that signs and encrypts pagination cursors in the database, wrapped by
--          the KEK (like the audit signing key), so every replica and every restart uses the
--          same one. Numbered versions: a new version is announced ahead of its activation
--          (active_from) so that every server has loaded it before any server encodes with it,
--          and the versions before it stay accepted until accepted_until (a grace period).
--          Only ward_system reads or writes it; WARD_CURSOR_KEY still overrides it.
-- Online-safe: yes (creates a new, empty table)

-- Platform-level, like audit.signing_keys: no organization_id, no tenant can reach it (ward_app
-- has no grant at all). The wrapped key is bound by the KEK to its version (wrap context
-- purpose `cursor`), so a wrapped key moved to another row fails to unwrap.
CREATE TABLE ward.cursor_keys (
  version         integer PRIMARY KEY CHECK (version >= 1),
  wrapped_key     bytea NOT NULL CHECK (length(wrapped_key) BETWEEN 1 AND 1024),
  kek_id          text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
  active_from     timestamptz NOT NULL DEFAULT now(),
  -- NULL while the version is the newest; set (to the successor's activation plus the grace
  -- period) by the rotation that supersedes it.
  accepted_until  timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cursor_keys_acceptance CHECK (accepted_until IS NULL OR accepted_until >= active_from)
);

COMMENT ON TABLE ward.cursor_keys IS
  'Pagination cursor keys (platform-level), wrapped by the KEK; see docs/decisions/2026-12-04-signed-cursors.md';

-- What a key is never changes: its version, activation and creation time. The key itself
-- changes only by being re-wrapped under another KEK. A version's acceptance can be ended or
-- shortened, never extended or reopened, so a rotation that retired a key cannot be undone by
-- a later statement.
CREATE FUNCTION ward.cursor_keys_guard() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NEW.version IS DISTINCT FROM OLD.version OR NEW.active_from IS DISTINCT FROM OLD.active_from
     OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION 'the identity of cursor key version % cannot change', OLD.version
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.wrapped_key IS DISTINCT FROM OLD.wrapped_key AND NEW.kek_id IS NOT DISTINCT FROM OLD.kek_id THEN
    RAISE EXCEPTION 'cursor key version % can only be re-wrapped under a different KEK', OLD.version
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.accepted_until IS NOT NULL
     AND (NEW.accepted_until IS NULL OR NEW.accepted_until > OLD.accepted_until) THEN
    RAISE EXCEPTION 'the acceptance of cursor key version % cannot be extended', OLD.version
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION ward.cursor_keys_guard() FROM PUBLIC;

CREATE TRIGGER cursor_keys_guard BEFORE UPDATE ON ward.cursor_keys
  FOR EACH ROW EXECUTE FUNCTION ward.cursor_keys_guard();

REVOKE ALL ON ward.cursor_keys FROM PUBLIC;
GRANT SELECT, INSERT (version, wrapped_key, kek_id, active_from),
      UPDATE (wrapped_key, kek_id, accepted_until)
  ON ward.cursor_keys TO ward_system;
