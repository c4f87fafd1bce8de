-- Migration: 0001-core-schema-and-context
-- Purpose: Ward's core schema, the request-context functions every RLS policy reads, and the
--          shared updated_at trigger.
-- Online-safe: yes (creates new objects only)

CREATE SCHEMA ward;
GRANT USAGE ON SCHEMA ward TO ward_app, ward_auditor, ward_system;

-- Context accessors. Each returns NULL when the setting is absent or empty, so a policy such
-- as `organization_id = ward.current_org_id()` matches nothing for a request without context.
-- They are STABLE so that policies can call them as `(select ward.current_org_id())`, which
-- PostgreSQL evaluates once per query instead of once per row.
CREATE FUNCTION ward.current_org_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('ward.org_id', true), '')::uuid $$;

CREATE FUNCTION ward.current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('ward.user_id', true), '')::uuid $$;

CREATE FUNCTION ward.current_session_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('ward.session_id', true), '')::uuid $$;

CREATE FUNCTION ward.current_actor_type() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('ward.actor_type', true), '') $$;

CREATE FUNCTION ward.current_purpose() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('ward.purpose', true), '') $$;

CREATE FUNCTION ward.current_request_id() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('ward.request_id', true), '') $$;

-- Maintains updated_at on every table that has one; attached per table as BEFORE UPDATE.
CREATE FUNCTION ward.touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
  AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
