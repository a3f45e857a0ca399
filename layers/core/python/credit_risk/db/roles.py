"""The two database roles on Postgres: the owner that migrates, the application that runs.

The migrate step (the deploy's ``DatabaseSchema``, connected as the owner) creates the
application role when it is missing and grants it what the functions need and no more:
read and write the staging, analytics and ml tables, and on the audit trail only SELECT
and INSERT. The owner keeps the tables, so the application role cannot UPDATE, DELETE or
TRUNCATE audit rows, nor disable or drop the triggers that refuse those changes. Secrets
Manager rotates the application role's password afterwards (single-user rotation), so an
existing role's password is never reset here.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine, text

from credit_risk.db.engine import SCHEMAS, is_postgres
from credit_risk.errors import ConfigurationError

WRITABLE = ("staging", "analytics", "ml")
APPEND_ONLY = ("audit",)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_application_role(engine: Engine, role: str, password: str) -> bool:
    """Create ``role`` (LOGIN) if missing and (re)grant its privileges, including on the
    tables the owner creates later; return True when the role was created now.

    A no-op on SQLite, which has no roles (the embedded default is one local user).
    """
    if not is_postgres(engine):
        return False
    if not _NAME.match(role):
        raise ConfigurationError("the application role name must be a lower-case identifier")
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first()
        if not exists:
            # DDL takes no bind parameters: the password is quoted as a literal by Postgres.
            literal = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar()
            conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD {literal}"))
        database = conn.execute(text("SELECT current_database()")).scalar()
        conn.execute(text(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {role}'))
        for schema in SCHEMAS:
            conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
            _grant(conn, role, schema, "USAGE, SELECT", "SEQUENCES")
        for schema in WRITABLE:
            _grant(conn, role, schema, "SELECT, INSERT, UPDATE, DELETE", "TABLES")
        for schema in APPEND_ONLY:
            conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}"))
            _grant(conn, role, schema, "SELECT, INSERT", "TABLES")
    return not exists


def _grant(conn: Connection, role: str, schema: str, rights: str, kind: str) -> None:
    """``rights`` on every existing ``kind`` (TABLES, SEQUENCES) of ``schema`` and on those
    the owner creates later."""
    conn.execute(text(f"GRANT {rights} ON ALL {kind} IN SCHEMA {schema} TO {role}"))
    conn.execute(
        text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {rights} ON {kind} TO {role}")
    )
