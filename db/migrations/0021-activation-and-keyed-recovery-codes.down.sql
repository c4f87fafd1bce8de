-- Migration: 0021-activation-and-keyed-recovery-codes (rollback)
-- Purpose: Drops activation tokens and the recovery-code hash scheme. Recovery codes stored
--          keyed (hmac-v1) cannot be turned back into plain SHA-256: after a forced rollback
--          they no longer match, and their users must generate new ones.
-- Online-safe: yes (the service must be downgraded with it)

REVOKE INSERT (hash_scheme), UPDATE (code_hash, hash_scheme) ON ward.recovery_codes FROM ward_app;
ALTER TABLE ward.recovery_codes DROP COLUMN hash_scheme;

DROP TABLE ward.user_activations;
