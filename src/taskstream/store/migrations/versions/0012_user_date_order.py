"""users.date_order and users.all_day_reminder_time: how the user writes numeric dates (quick add reads
"10/12" by it) and when reminders of all-day tasks count from

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("date_order", sa.String(3), nullable=True))
    op.add_column(
        "users", sa.Column("all_day_reminder_time", sa.String(5), nullable=False, server_default="09:00")
    )


def downgrade() -> None:
    op.drop_column("users", "all_day_reminder_time")
    op.drop_column("users", "date_order")
