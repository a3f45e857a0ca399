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

from sqlalchemy import Engine, text

from credit_risk.db.engine import is_postgres
from credit_risk.db.migrations import run_sql
from credit_risk.errors import ConfigurationError

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
        database = str(conn.execute(text("SELECT current_database()")).scalar())
        if '"' in database:
            raise ConfigurationError("the database name must not contain a double quote")
        run_sql(conn, "application_role", role=role, database=database)
    return not exists
