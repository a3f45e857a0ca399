"""revoked API tokens and subjects

Revision ID: 0006
Revises: 0005
Created: carried over from the in-house runner's version 6
"""

from __future__ import annotations

from alembic import op

from credit_risk.db import schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema.token_revocations.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Nothing dropped: audit.token_revocations is append-only, like the rest of the audit trail,
    and the previous code ignores it; upgrading again finds it as it was."""
