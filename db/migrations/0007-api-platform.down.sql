-- Migration: 0007-api-platform (rollback)
-- Purpose: Remove idempotency keys (they are a 24-hour retry cache; losing them only means a
--          retry within that window may create again).
-- Online-safe: yes

DROP TABLE ward.idempotency_keys;
