"""quarantined rows keyed by customer

Revision ID: 0005
Revises: 0004
Created: carried over from the in-house runner's version 5

``staging.quarantine.customer_id`` for databases built before it (revision 0001 now makes
it). Rows quarantined before it are found by their cells only.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import inspect, text

from credit_risk.db import schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    have = {c["name"] for c in inspect(conn).get_columns("quarantine", schema="staging")}
    if "customer_id" not in have:
        conn.execute(text("ALTER TABLE staging.quarantine ADD COLUMN customer_id TEXT"))
    index = next(i for i in schema.quarantine.indexes if i.name == "ix_quarantine_customer")
    index.create(conn, checkfirst=True)


def downgrade() -> None:
    """Nothing: revision 0001 creates the column with the table on a fresh database."""
