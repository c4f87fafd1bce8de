-- Migration: 0004-audit-trail (placeholder on the auth branch)
-- Purpose: Placeholder so numbering stays contiguous until the real migration merges.
-- Online-safe: yes
SELECT 1;
