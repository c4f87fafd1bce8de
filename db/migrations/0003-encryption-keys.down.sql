-- Migration: 0003-encryption-keys (rollback)
-- Purpose: Placeholder on the audit branch; the crypto branch owns this number and replaces this file at merge.
-- Online-safe: yes (does nothing)

-- Intentionally empty.
