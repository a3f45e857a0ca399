"""one re-score per loan and model version

Revision ID: 0003
Revises: 0002
Created: carried over from the in-house runner's version 3

Databases built before the index get it (revision 0001 now creates it with the table).
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema
from credit_risk.db.migrations import create_index

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_index(op.get_bind(), schema.scores, "uq_scores_rescore_once")


def downgrade() -> None:
    """Nothing: revision 0001 creates the index with the table on a fresh database."""
