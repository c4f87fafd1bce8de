-- Migration: 0023-blind-index-normalization
-- Purpose: Blind indexes carry the version of the normalization they were computed with, per
--          organization and index column, so that search can look a value up in every form
--          still stored and `ward keys reindex` can move stored indexes to the current rules
--          (normalization version 2 folds look-alikes; see docs/decisions/2026-12-06-*).
--          An organization's index root records the version its indexes started with: roots
--          that exist now say 1 (everything they index was computed with version 1), roots
--          created from now on get the version of the code that creates them. A column whose
--          reindex completed says so in ward.blind_index_normalization, which also holds the
--          resumable cursor of a reindex in progress. The reindex job (ward_system) may
--          rewrite the blind-index columns of clinical.patients, and nothing else of them.
-- Online-safe: yes (a column with a constant default is added without rewriting the table; the
--          new table starts empty; grants only)

ALTER TABLE ward.blind_index_keys
  ADD COLUMN normalization integer NOT NULL DEFAULT 1 CHECK (normalization BETWEEN 1 AND 32767);
COMMENT ON COLUMN ward.blind_index_keys.normalization IS
  'Normalization version the organization''s blind indexes were computed with from the start (1 for roots created before migration 0023)';

-- Per organization and blind-index column: the oldest normalization any stored index of the
-- column may still have (search tries every form from it to the current one), and the state of
-- a reindex towards a newer version. No row: the root's `normalization` applies.
CREATE TABLE ward.blind_index_normalization (
  organization_id     uuid NOT NULL REFERENCES ward.organizations (id),
  -- schema.table.column of a registered *_bidx column
  column_name         text NOT NULL
    CHECK (column_name ~ '^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*_bidx$'),
  normalization       integer NOT NULL CHECK (normalization BETWEEN 1 AND 32767),
  -- The version a reindex in progress moves the column to, and the last row id it finished.
  reindex_to          integer CHECK (reindex_to BETWEEN normalization AND 32767),
  reindex_cursor      uuid,
  reindex_started_at  timestamptz,
  reindexed_at        timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, column_name),
  CHECK ((reindex_to IS NULL) = (reindex_started_at IS NULL)),
  CHECK (reindex_to IS NOT NULL OR reindex_cursor IS NULL)
);
CREATE TRIGGER blind_index_normalization_touch BEFORE UPDATE ON ward.blind_index_normalization
  FOR EACH ROW EXECUTE FUNCTION ward.touch_updated_at();

ALTER TABLE ward.blind_index_normalization ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.blind_index_normalization FORCE ROW LEVEL SECURITY;
-- Requests read their organization's versions (search needs them); only the reindex job,
-- through ward_system, writes them.
CREATE POLICY blind_index_normalization_tenant ON ward.blind_index_normalization FOR SELECT
  USING (organization_id = (SELECT ward.current_org_id()));

GRANT SELECT (organization_id, column_name, normalization)
  ON ward.blind_index_normalization TO ward_app;
GRANT SELECT ON ward.blind_index_normalization TO ward_auditor;
GRANT SELECT, INSERT, UPDATE ON ward.blind_index_normalization TO ward_system;

-- A request creating an organization's index root records the version it computes with.
GRANT SELECT (normalization), INSERT (normalization) ON ward.blind_index_keys TO ward_app;
GRANT SELECT (normalization) ON ward.blind_index_keys TO ward_auditor;

-- The reindex job recomputes the blind indexes in place (compare-and-swap on the source
-- ciphertext and the index it read).
GRANT UPDATE (mrn_bidx, ssn_bidx, email_bidx, phone_bidx, name_dob_bidx)
  ON clinical.patients TO ward_system;
