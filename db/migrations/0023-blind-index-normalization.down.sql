-- Migration: 0023-blind-index-normalization (rollback)
-- Purpose: Blind indexes lose their normalization versions and the reindex state. The code
--          must be downgraded with it; indexes already moved to version 2 then differ from
--          what version 1 computes for values with look-alikes (see the decision note), so
--          roll back before reindexing, or accept that such values are found only as typed.
-- Online-safe: yes (the service must be downgraded with it)

REVOKE UPDATE (mrn_bidx, ssn_bidx, email_bidx, phone_bidx, name_dob_bidx)
  ON clinical.patients FROM ward_system;
REVOKE SELECT (normalization), INSERT (normalization) ON ward.blind_index_keys FROM ward_app;
REVOKE SELECT (normalization) ON ward.blind_index_keys FROM ward_auditor;
DROP TABLE ward.blind_index_normalization;
ALTER TABLE ward.blind_index_keys DROP COLUMN normalization;
