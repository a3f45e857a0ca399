"""monitoring snapshots

Revision ID: 0002
Revises: 0001
Created: carried over from the in-house runner's version 2
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema.monitoring_snapshots.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    schema.monitoring_snapshots.drop(op.get_bind(), checkfirst=True)
