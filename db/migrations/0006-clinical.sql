-- Migration: 0006-clinical
-- Purpose: placeholder until the clinical migration merges
-- Online-safe: yes

SELECT 1;
