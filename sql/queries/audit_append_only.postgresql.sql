-- The audit trail refuses UPDATE, DELETE and TRUNCATE in the database itself (revision 0001).
-- The hash chain detects tampering by anyone who gets past this (a DBA who drops a
-- trigger); the triggers stop the application, or an operator, changing it by mistake.
-- Statements end with ";" at the end of a line (credit_risk.db.migrations.sql_statements).
CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit.decisions is append-only'; END $$;

CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON audit.decisions
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();

CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON audit.decisions
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
