-- Migration: 0010-audit-signing-key-custody (rollback)
-- Purpose: Return audit.signing_keys to public keys only. The wrapped private keys are dropped
--          with their columns: checkpoints they signed still verify with the public keys, but
--          new checkpoints need a signer again (WARD_AUDIT_SIGNING_KEY before this migration).
-- Online-safe: yes

REVOKE USAGE ON SEQUENCE audit.signing_keys_key_no_seq FROM ward_system;
REVOKE UPDATE (status, retired_at, wrapped_private_key, kek_id) ON audit.signing_keys FROM ward_system;
REVOKE SELECT (key_id, key_no, algorithm, public_key, status, created_at, retired_at)
  ON audit.signing_keys FROM ward_app, ward_auditor;
GRANT SELECT ON audit.signing_keys TO ward_app, ward_auditor;
DROP TRIGGER signing_keys_guard ON audit.signing_keys;
DROP FUNCTION audit.signing_keys_guard();
CREATE TRIGGER signing_keys_immutable BEFORE UPDATE OR DELETE ON audit.signing_keys
  FOR EACH ROW EXECUTE FUNCTION audit.forbid_change();
DROP INDEX audit.signing_keys_one_active;
ALTER TABLE audit.signing_keys
  DROP CONSTRAINT signing_keys_custody,
  DROP CONSTRAINT signing_keys_key_no_unique,
  DROP COLUMN retired_at,
  DROP COLUMN kek_id,
  DROP COLUMN wrapped_private_key,
  DROP COLUMN status,
  DROP COLUMN key_no;
