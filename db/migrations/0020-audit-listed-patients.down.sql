-- Migration: 0020-audit-listed-patients (rollback)
-- Purpose: Drops the derived table of listed patients and its trigger and functions; no audit
--          event changes (the patients stay named in each event's metadata).
-- Online-safe: yes (drops a trigger and derived objects)

DROP TRIGGER events_derive_patients ON audit.events;
DROP FUNCTION audit.derive_event_patients();
DROP FUNCTION audit.expire_event_patients(integer);
DROP TABLE audit.event_patients;
