-- The audit trail refuses UPDATE and DELETE (SQLite has no TRUNCATE; revision 0001).
-- The trigger lives in the attached "audit" database, beside its table.
CREATE TRIGGER audit.decisions_no_update BEFORE UPDATE ON decisions
    BEGIN SELECT RAISE(ABORT, 'audit.decisions is append-only'); END;

CREATE TRIGGER audit.decisions_no_delete BEFORE DELETE ON decisions
    BEGIN SELECT RAISE(ABORT, 'audit.decisions is append-only'); END;
