-- Migration: 0020-audit-listed-patients (rollback)
-- Purpose: Drops the index of listed patients; no event changes.
-- Online-safe: yes (drops an index)

DROP INDEX audit.events_listed_patients_idx;
