"""erased customers (410 Gone afterwards)

Revision ID: 0007
Revises: 0006
Created: carried over from the in-house runner's version 7
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema.erasures.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Nothing dropped: audit.erasures is append-only, like the rest of the audit trail,
    and the previous code ignores it; upgrading again finds it as it was."""
