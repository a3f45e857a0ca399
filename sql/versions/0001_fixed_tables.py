"""ledger, quarantine, quality, registry, scores, audit, labels

Revision ID: 0001
Revises:
Created: carried over from the in-house runner's version 1

Creates every table of ``schema.metadata`` (tables added later live in
``schema.later_metadata`` and get their own revision) and makes the audit trail
append-only in the database itself (``sql/queries/audit_append_only.*.sql``).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import MetaData

from credit_risk.db import schema
from credit_risk.db.migrations import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _fixed_tables() -> list:  # type: ignore[type-arg]
    return [t for t in schema.metadata.sorted_tables if t.name != "schema_version"]


def upgrade() -> None:
    conn = op.get_bind()
    schema.metadata.create_all(conn, tables=_fixed_tables())
    schema.labels_table(MetaData()).create(conn, checkfirst=True)
    run_sql(conn, "audit_append_only")


def downgrade() -> None:
    conn = op.get_bind()
    schema.labels_table(MetaData()).drop(conn, checkfirst=True)
    schema.metadata.drop_all(conn, tables=_fixed_tables())
