"""inbox.processed_at indexed: the relay's cleanup deletes the oldest inbox rows in batches

Revision ID: 0010
Revises: 0009

Without it every cleanup pass would scan the whole inbox (one row per consumer and event).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_processed_at", table_name="inbox")
