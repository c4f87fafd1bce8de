-- Migration: 0012-confirm-principal
-- Purpose: A request whose principal the server already knows confirms it cheaply instead of
--          awaiting a full authentication: organizations gain `auth_version` (bumped by
--          triggers on anything that changes what authentication returns), and
--          ward.refuse_principal, which raises WA401 for the one confirming statement the server
--          sends (src/modules/access/confirmation.ts) when the principal no longer matches (the
--          transaction aborts before anything queued behind it runs).
-- Online-safe: yes (a column with a constant default, new functions and triggers)

-- See docs/decisions/2026-12-02-confirm-known-principals.md and
-- docs/decisions/2026-12-03-confirm-in-one-statement.md.
ALTER TABLE ward.organizations ADD COLUMN auth_version bigint NOT NULL DEFAULT 1;
GRANT SELECT (auth_version), UPDATE (auth_version) ON ward.organizations TO ward_app, ward_system;
GRANT SELECT (auth_version) ON ward.organizations TO ward_auditor;

-- The counter only moves forward, whoever writes it: an old value would let a stale cached
-- principal be confirmed again. Settings and status changes bump it here.
CREATE FUNCTION ward.guard_auth_version() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  IF NEW.auth_version < OLD.auth_version THEN
    RAISE EXCEPTION 'auth_version only increases' USING ERRCODE = '22023';
  END IF;
  IF NEW.settings IS DISTINCT FROM OLD.settings OR NEW.status IS DISTINCT FROM OLD.status THEN
    NEW.auth_version := greatest(NEW.auth_version, OLD.auth_version + 1);
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER organizations_auth_version BEFORE UPDATE ON ward.organizations
  FOR EACH ROW EXECUTE FUNCTION ward.guard_auth_version();

-- Runs as the writer (like ward.bump_policy_version): a request's writes are confined to its
-- own organization by RLS, jobs bypass it, and the superuser is the superuser.
CREATE FUNCTION ward.bump_auth_version() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  UPDATE ward.organizations SET auth_version = auth_version + 1
   WHERE id = coalesce(NEW.organization_id, OLD.organization_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER user_roles_auth_version AFTER INSERT OR UPDATE OR DELETE ON ward.user_roles
  FOR EACH ROW EXECUTE FUNCTION ward.bump_auth_version();
CREATE TRIGGER role_permissions_auth_version AFTER INSERT OR UPDATE OR DELETE ON ward.role_permissions
  FOR EACH ROW EXECUTE FUNCTION ward.bump_auth_version();
CREATE TRIGGER roles_auth_version AFTER UPDATE OR DELETE ON ward.roles
  FOR EACH ROW EXECUTE FUNCTION ward.bump_auth_version();
CREATE TRIGGER break_glass_auth_version AFTER INSERT OR UPDATE OR DELETE ON ward.break_glass_sessions
  FOR EACH ROW EXECUTE FUNCTION ward.bump_auth_version();
CREATE TRIGGER users_auth_version AFTER UPDATE OF status, principal_type ON ward.users
  FOR EACH ROW EXECUTE FUNCTION ward.bump_auth_version();

-- Called from a CASE branch that is taken only when the confirmation found no matching row,
-- so the success path runs no procedural code at all.
CREATE FUNCTION ward.refuse_principal(p_kind text) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  RAISE EXCEPTION 'the % must be authenticated again', p_kind USING ERRCODE = 'WA401';
END
$$;
