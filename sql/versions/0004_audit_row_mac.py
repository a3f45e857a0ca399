"""audit rows signed outside the database

Revision ID: 0004
Revises: 0003
Created: carried over from the in-house runner's version 4

``audit.decisions.row_mac`` for databases built before it (revision 0001 now makes it).
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema
from credit_risk.db.migrations import add_missing_columns

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_missing_columns(op.get_bind(), schema.decisions_audit, "row_mac")


def downgrade() -> None:
    """Nothing: the audit trail is append-only, and its signatures are kept."""
