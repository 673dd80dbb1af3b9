"""reminders.traceparent: the trace that scheduled a reminder, linked from the trace of its firing

Revision ID: 0009
Revises: 0008

A nullable W3C `traceparent` (55 characters), NULL when tracing is off. Adding it rewrites no row on either
database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reminders", sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    op.drop_column("reminders", "traceparent")
