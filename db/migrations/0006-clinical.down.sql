-- Migration: 0006-clinical (rollback)
-- Purpose: placeholder until the clinical migration merges
-- Online-safe: yes

SELECT 1;
