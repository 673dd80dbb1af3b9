"""Helpers for tests of the migrations: move a database to a revision, and write rows as an older schema
holds them (raw SQL, so no model of today's schema is involved)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskstream.store.db import alembic_config


def migrate_to(sync: Any, revision: str, *, down: bool = False) -> None:
    """`alembic upgrade` (or `downgrade`) to `revision` on the sync connection of run_sync."""
    config = alembic_config()
    config.attributes["connection"] = sync
    (command.downgrade if down else command.upgrade)(config, revision)


async def insert_user_and_task(
    connection: AsyncConnection, *, title: str, priority: int, at: datetime
) -> None:
    """User u1 (old@example.com) and its open task t1, created at `at`, stored as each driver stores an
    instant (SQLite: naive UTC text, as UTCDateTime writes it)."""
    stored: Any = at
    if connection.dialect.name == "sqlite":
        stored = at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    await connection.execute(
        text(
            "INSERT INTO users (id, email, password_hash, timezone, created_at) "
            "VALUES ('u1', 'old@example.com', 'x', 'UTC', :at)"
        ),
        {"at": stored},
    )
    await connection.execute(
        text(
            "INSERT INTO tasks (id, user_id, series_id, title, priority, timezone, repeat_from, "
            "keep_missed, completed, created_at, updated_at, version) VALUES "
            "('t1', 'u1', 't1', :title, :priority, 'UTC', 'due', false, false, :at, :at, 1)"
        ),
        {"at": stored, "title": title, "priority": priority},
    )
