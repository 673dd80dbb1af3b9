"""reminders.duration: the RFC 5545 duration a reminder fires before its due, as given (replaces offset_s)

Revision ID: 0013
Revises: 0012

offset_s kept seconds only, so "P1D" (a calendar day, nominal) and "PT24H" (24 hours, exact) could not be
told apart; whole days become "P<n>D", the form the API showed for them.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from taskstream.domain.durations import Offset, iso_duration

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reminders", sa.Column("duration", sa.String(32), nullable=True))
    reminders = sa.table("reminders", sa.column("id", sa.String), sa.column("offset_s", sa.Integer),
                         sa.column("duration", sa.String))  # fmt: skip
    bind = op.get_bind()
    query = sa.select(reminders.c.id, reminders.c.offset_s).where(reminders.c.offset_s.is_not(None))
    rows = bind.execute(query)
    for reminder_id, seconds in list(rows):
        bind.execute(
            reminders.update()
            .where(reminders.c.id == reminder_id)
            .values(duration=iso_duration(timedelta(seconds=seconds)))
        )
    op.drop_column("reminders", "offset_s")


def downgrade() -> None:
    op.add_column("reminders", sa.Column("offset_s", sa.Integer(), nullable=True))
    reminders = sa.table("reminders", sa.column("id", sa.String), sa.column("offset_s", sa.Integer),
                         sa.column("duration", sa.String))  # fmt: skip
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(reminders.c.id, reminders.c.duration).where(reminders.c.duration.is_not(None))
    )
    for reminder_id, text in list(rows):
        seconds = int(Offset.parse(text).length.total_seconds())  # days as 24 hours, as offset_s had them
        bind.execute(reminders.update().where(reminders.c.id == reminder_id).values(offset_s=seconds))
    op.drop_column("reminders", "duration")
