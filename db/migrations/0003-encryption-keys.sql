-- Migration: 0003-encryption-keys (placeholder on the auth branch)
-- Purpose: Placeholder so numbering stays contiguous until the real migration merges.
-- Online-safe: yes
SELECT 1;
