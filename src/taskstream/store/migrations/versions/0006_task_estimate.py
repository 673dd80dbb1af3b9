"""tasks.estimate_minutes: how long a task is expected to take

Revision ID: 0006
Revises: 0005

Optional, 1–1440 minutes (checked by the task entity). A nullable column without a default: adding it
rewrites no row on either database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("estimate_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would break the FTS view on it.
    op.drop_column("tasks", "estimate_minutes")
