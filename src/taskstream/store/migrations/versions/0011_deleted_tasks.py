"""deleted_tasks: a deleted task as it was, so Undo restores it with the same id

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_tasks",
        sa.Column("task_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
    )
    op.create_index("ix_deleted_tasks_user_id", "deleted_tasks", ["user_id"])
    op.create_index("ix_deleted_tasks_deleted_at", "deleted_tasks", ["deleted_at"])


def downgrade() -> None:
    op.drop_table("deleted_tasks")
