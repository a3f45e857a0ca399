"""quarantined rows keyed by customer

Revision ID: 0005
Revises: 0004
Created: carried over from the in-house runner's version 5

``staging.quarantine.customer_id`` for databases built before it (revision 0001 now makes
it). Rows quarantined before it are found by their cells only.
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema
from credit_risk.db.migrations import add_missing_columns, create_index

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    add_missing_columns(conn, schema.quarantine, "customer_id")
    create_index(conn, schema.quarantine, "ix_quarantine_customer")


def downgrade() -> None:
    """Nothing: revision 0001 creates the column with the table on a fresh database."""
