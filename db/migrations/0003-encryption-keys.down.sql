-- Migration: 0003-encryption-keys (rollback)
-- Purpose: Remove the key store and agent_policy_context. Refused by `ward db rollback` while
--          they hold rows, unless forced: dropping wrapped keys makes every value they
--          protect unrecoverable.
-- Online-safe: no

DROP TABLE ward.agent_policy_context;
DROP TABLE ward.blind_index_keys;
DROP TABLE ward.encryption_keys;
DROP TYPE ward.key_status;
