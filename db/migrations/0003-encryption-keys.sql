-- Migration: 0003-encryption-keys
-- Purpose: Placeholder on the audit branch; the crypto branch owns this number and replaces this file at merge.
-- Online-safe: yes (does nothing)

-- Intentionally empty: keeps migration numbering contiguous until the crypto branch merges.
