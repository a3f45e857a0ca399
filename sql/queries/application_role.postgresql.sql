-- What the application role may do (credit_risk.db.roles.grant_application_role, run by the
-- migrate step as the owner): read and write staging, analytics and ml; on the audit trail
-- only SELECT and INSERT, so it cannot UPDATE, DELETE or TRUNCATE audit rows, nor disable or
-- drop the triggers that refuse those changes (the owner keeps the tables). Each grant also
-- covers the tables and sequences the owner creates later (default privileges).
-- {role} and {database} are identifiers the caller has checked; statements end with ";"
-- at the end of a line.
GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {role};

GRANT USAGE ON SCHEMA staging, analytics, ml, audit TO {role};

GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA staging, analytics, ml, audit TO {role};

ALTER DEFAULT PRIVILEGES IN SCHEMA staging, analytics, ml, audit
    GRANT USAGE, SELECT ON SEQUENCES TO {role};

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA staging, analytics, ml TO {role};

ALTER DEFAULT PRIVILEGES IN SCHEMA staging, analytics, ml
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};

REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM {role};

GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA audit TO {role};

ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT, INSERT ON TABLES TO {role};
