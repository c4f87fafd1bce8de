-- Migration: 0003-encryption-keys
-- Purpose: Envelope-encryption key store (seed 3's encryption_keys: per-organization data keys
--          in numbered versions, held only wrapped by a KEK that lives outside the database),
--          per-organization blind-index keys, and seed 3's agent_policy_context, the first
--          table whose PHI is encrypted field by field.
-- Online-safe: yes (creates new objects only)

CREATE TYPE ward.key_status AS ENUM ('active', 'decrypt_only', 'retired', 'destroyed');

-- Data-encryption keys. `wrapped_key` is the DEK encrypted under the KEK named by `kek_id`
-- (env/file key, PKCS#11 token key, ...); nothing here can decrypt a field on its own.
-- Exactly one version per organization is `active` (the primary for new writes); older
-- versions are `decrypt_only` until the rewrap job has moved their values forward, then
-- `retired`. Crypto-shredding sets `destroyed` and erases the wrapped key.
CREATE TABLE ward.encryption_keys (
  organization_id     uuid NOT NULL REFERENCES ward.organizations (id),
  version             integer NOT NULL CHECK (version BETWEEN 1 AND 2147483647),
  wrapped_key         bytea CHECK (length(wrapped_key) BETWEEN 32 AND 1024),
  kek_id              text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
  status              ward.key_status NOT NULL DEFAULT 'active',
  created_at          timestamptz NOT NULL DEFAULT now(),
  rotated_at          timestamptz,
  retired_at          timestamptz,
  destroyed_at        timestamptz,
  -- Where an interrupted rewrap towards this version resumes: {"schema.table.column": "<last id>"}.
  rewrap_cursor       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rewrap_cursor) = 'object'),
  rewrap_completed_at timestamptz,
  PRIMARY KEY (organization_id, version),
  CHECK ((status = 'destroyed') = (wrapped_key IS NULL)),
  CHECK ((status = 'destroyed') = (destroyed_at IS NOT NULL))
);
-- At most one primary per organization, enforced by the database rather than by code.
CREATE UNIQUE INDEX encryption_keys_one_active ON ward.encryption_keys (organization_id)
  WHERE status = 'active';

-- The per-organization root of the blind-index keys: separate from the DEKs so that data-key
-- rotation never forces a reindex, wrapped by the same KEK, destroyed with the organization.
CREATE TABLE ward.blind_index_keys (
  organization_id  uuid NOT NULL REFERENCES ward.organizations (id),
  version          integer NOT NULL DEFAULT 1 CHECK (version = 1),
  wrapped_key      bytea CHECK (length(wrapped_key) BETWEEN 32 AND 1024),
  kek_id           text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
  created_at       timestamptz NOT NULL DEFAULT now(),
  destroyed_at     timestamptz,
  PRIMARY KEY (organization_id, version),
  CHECK ((destroyed_at IS NULL) = (wrapped_key IS NOT NULL))
);

-- Seed 3: encrypted context an AI agent carries through a session (the member's situation,
-- the question, what it may look at). Only ciphertext is stored; see docs/security.md.
CREATE TABLE ward.agent_policy_context (
  organization_id    uuid NOT NULL,
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  agent_id           uuid NOT NULL,
  purpose            text NOT NULL CHECK (purpose ~ '^[A-Z][A-Z0-9]{1,15}$'),
  context_encrypted  bytea NOT NULL CHECK (length(context_encrypted) >= 33),
  expires_at         timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, agent_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_policy_context_agent_idx ON ward.agent_policy_context (organization_id, agent_id);
CREATE TRIGGER agent_policy_context_touch BEFORE UPDATE ON ward.agent_policy_context
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();
COMMENT ON COLUMN ward.agent_policy_context.context_encrypted IS
  'ward:encrypted AES-256-GCM, bound to (organization, table, column, id); agent session context (JSON)';

-- Row-level security: enabled and forced, policies before grants.
ALTER TABLE ward.encryption_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.encryption_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_keys_tenant ON ward.encryption_keys FOR SELECT
  USING (organization_id = (SELECT ward.current_org_id()));
-- A request may create only its organization's first key (lazily, on first encryption);
-- every later version is made by `ward keys rotate` through ward_system.
CREATE POLICY encryption_keys_first ON ward.encryption_keys FOR INSERT
  WITH CHECK (organization_id = (SELECT ward.current_org_id()) AND version = 1
              AND status = 'active');

ALTER TABLE ward.blind_index_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.blind_index_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY blind_index_keys_tenant ON ward.blind_index_keys
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()) AND destroyed_at IS NULL);

ALTER TABLE ward.agent_policy_context ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.agent_policy_context FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_policy_context_tenant ON ward.agent_policy_context
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

-- Grants. Requests read wrapped keys (useless without the KEK) and may insert a first key;
-- they can never update or delete one. The auditor sees key status, never key material.
GRANT SELECT (organization_id, version, wrapped_key, kek_id, status, created_at, rotated_at)
  ON ward.encryption_keys TO ward_app;
GRANT INSERT (organization_id, version, wrapped_key, kek_id, status)
  ON ward.encryption_keys TO ward_app;
GRANT SELECT (organization_id, version, kek_id, status, created_at, rotated_at, retired_at,
              destroyed_at, rewrap_completed_at)
  ON ward.encryption_keys TO ward_auditor;
GRANT SELECT, INSERT, UPDATE ON ward.encryption_keys TO ward_system;

GRANT SELECT (organization_id, version, wrapped_key, kek_id, created_at, destroyed_at),
      INSERT (organization_id, version, wrapped_key, kek_id)
  ON ward.blind_index_keys TO ward_app;
GRANT SELECT (organization_id, version, kek_id, created_at, destroyed_at)
  ON ward.blind_index_keys TO ward_auditor;
GRANT SELECT, INSERT, UPDATE ON ward.blind_index_keys TO ward_system;

GRANT SELECT, INSERT (organization_id, id, agent_id, purpose, context_encrypted, expires_at),
      UPDATE (purpose, context_encrypted, expires_at), DELETE
  ON ward.agent_policy_context TO ward_app;
GRANT SELECT (organization_id, id, agent_id, purpose, expires_at, created_at, updated_at)
  ON ward.agent_policy_context TO ward_auditor;
-- The rewrap job replaces ciphertext in place; shredding leaves rows unreadable, not deleted.
GRANT SELECT, UPDATE (context_encrypted) ON ward.agent_policy_context TO ward_system;
