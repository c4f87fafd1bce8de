-- Migration: 0021-activation-and-keyed-recovery-codes
-- Purpose: One-time activation tokens for people created over the API: the person who creates
--          an account no longer chooses its password; the invitee sets it with a short-lived,
--          single-use token stored only as a hash. Recovery codes gain a hash scheme, so new
--          codes are stored keyed (HMAC under a key held outside the database, bound to the
--          user) while codes stored as plain SHA-256 keep working and are upgraded on use.
-- Online-safe: yes (a new table; a new column whose constant default fills existing rows
--              without a rewrite on PostgreSQL 11+)

CREATE TABLE ward.user_activations (
  organization_id  uuid NOT NULL,
  id               uuid NOT NULL,
  user_id          uuid NOT NULL,
  token_hash       bytea NOT NULL CHECK (length(token_hash) = 32),
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  -- Set when a newer token for the same user replaced this one before it was used.
  revoked_at       timestamptz,
  created_by       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- Short-lived by construction: whatever the service asks for, a week at most.
  CHECK (expires_at <= created_at + interval '7 days'),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX user_activations_user_idx ON ward.user_activations (organization_id, user_id);

ALTER TABLE ward.user_activations ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.user_activations FORCE ROW LEVEL SECURITY;
CREATE POLICY user_activations_tenant ON ward.user_activations
  USING (organization_id = (SELECT ward.current_org_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id()));

GRANT SELECT, INSERT (organization_id, id, user_id, token_hash, expires_at, created_by),
      UPDATE (used_at, revoked_at)
  ON ward.user_activations TO ward_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ward.user_activations TO ward_system;

-- Existing rows hold SHA-256 of the code; new rows say which scheme they use.
ALTER TABLE ward.recovery_codes
  ADD COLUMN hash_scheme text NOT NULL DEFAULT 'sha256' CHECK (hash_scheme IN ('sha256', 'hmac-v1'));
ALTER TABLE ward.recovery_codes ALTER COLUMN hash_scheme DROP DEFAULT;
GRANT INSERT (hash_scheme), UPDATE (code_hash, hash_scheme) ON ward.recovery_codes TO ward_app;
