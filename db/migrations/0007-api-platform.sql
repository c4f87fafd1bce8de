-- Migration: 0007-api-platform
-- Purpose: Idempotency keys for creates: a retried POST with the same Idempotency-Key returns
--          the first result instead of creating twice. Rows hold only hashes and the created
--          resource's id (never a response body, which could carry PHI) and expire after 24 h.
-- Online-safe: yes (a new table)

CREATE TABLE ward.idempotency_keys (
  organization_id  uuid NOT NULL,
  principal_id     uuid NOT NULL,
  idempotency_key  text NOT NULL CHECK (idempotency_key ~ '^[A-Za-z0-9._:~-]{1,128}$'),
  route            text NOT NULL CHECK (length(route) BETWEEN 1 AND 200),
  request_hash     bytea NOT NULL CHECK (length(request_hash) = 32),
  status_code      integer NOT NULL CHECK (status_code BETWEEN 200 AND 299),
  resource_id      uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (organization_id, principal_id, idempotency_key),
  FOREIGN KEY (organization_id, principal_id) REFERENCES ward.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idempotency_keys_expiry_idx ON ward.idempotency_keys (expires_at);

-- A principal sees only its own keys: one caller's key cannot replay another's create.
ALTER TABLE ward.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_own ON ward.idempotency_keys
  USING (organization_id = (SELECT ward.current_org_id())
         AND principal_id = (SELECT ward.current_user_id()))
  WITH CHECK (organization_id = (SELECT ward.current_org_id())
              AND principal_id = (SELECT ward.current_user_id()));
GRANT SELECT, DELETE,
      INSERT (organization_id, principal_id, idempotency_key, route, request_hash, status_code, expires_at),
      UPDATE (resource_id)
  ON ward.idempotency_keys TO ward_app;
-- The expiry job deletes across tenants.
GRANT SELECT, DELETE ON ward.idempotency_keys TO ward_system;
