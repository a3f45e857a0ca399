"""promoted decision policies and policy simulations (issue 14)

Revision ID: 0009
Revises: 0008
Created: 2026-12-04

``ml.decision_policies`` holds every promoted decision policy by version (one active, the
one the serving path decides by); ``ml.policy_simulations`` the simulations of proposed
policies whose frontier the dashboard draws.
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    schema.decision_policies.create(conn, checkfirst=True)
    schema.policy_simulations.create(conn, checkfirst=True)


def downgrade() -> None:
    """Nothing dropped: a promoted policy is part of the decision record (every decision
    names the policy version it was made under); the previous code ignores both tables."""
