-- Migration: 0024-cursor-keys (rollback)
-- Purpose: Drop the stored pagination cursor keys. Cursors issued under them become
--          invalid_cursor (clients start their lists again); the server falls back to
--          WARD_CURSOR_KEY or a per-process key, as before this migration.
-- Online-safe: yes (the service must be downgraded with it)

DROP TABLE ward.cursor_keys;
DROP FUNCTION ward.cursor_keys_guard();
