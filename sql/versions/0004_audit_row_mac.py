"""audit rows signed outside the database

Revision ID: 0004
Revises: 0003
Created: carried over from the in-house runner's version 4

``audit.decisions.row_mac`` for databases built before it (revision 0001 now makes it).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import inspect, text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    have = {c["name"] for c in inspect(conn).get_columns("decisions", schema="audit")}
    if "row_mac" not in have:
        conn.execute(text("ALTER TABLE audit.decisions ADD COLUMN row_mac VARCHAR(64)"))


def downgrade() -> None:
    """Nothing: the audit trail is append-only, and its signatures are kept."""
