"""shadow challenger scores

Revision ID: 0010
Revises: 0009
Created: 2026-12-04

``ml.shadow_scores``: the challenger's PD and decision beside the champion's for each API
request (issue 14). The serving code writes it in the request's transaction.
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema.shadow_scores.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    schema.shadow_scores.drop(op.get_bind(), checkfirst=True)
