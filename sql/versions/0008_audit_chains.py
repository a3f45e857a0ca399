"""one audit chain per writer stripe

Revision ID: 0008
Revises: 0007
Created: 2026-12-03

``audit.decisions.chain_id`` and ``chain_seq`` (revision 0001 makes them on a fresh
database), their unique index, and on Postgres the sequence that numbers rows without a
global lock (``sql/queries/audit_chains.postgresql.sql``). Rows written before it keep no
chain: they stay the one chain they were, ordered by ``seq``.
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema
from credit_risk.db.migrations import add_missing_columns, create_index, run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    add_missing_columns(conn, schema.decisions_audit, "chain_id", "chain_seq")
    create_index(conn, schema.decisions_audit, "uq_decisions_chain_seq")
    if conn.dialect.name == "postgresql":
        run_sql(conn, "audit_chains")


def downgrade() -> None:
    """Nothing: the audit trail is append-only, and its chained rows keep their places."""
