"""Deleted tasks, kept as they were so an Undo restores them with the same id, tags and reminders.

A delete moves the task's rows into one deleted_tasks row (a JSON copy of each row's columns) in the
transaction that deletes them; a restore puts the rows back and removes the copy. The relay's cleanup
forgets copies older than the outbox retention (see messaging/relay.py), as a deleted account forgets its
own by cascade.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.domain.task import Task as TaskEntity
from taskstream.features.tasks.mapping import REMINDERS, TASK_TAGS, TASKS, new_rows, to_entity
from taskstream.store.tables import Base, DeletedTask, Reminder, UTCDateTime
from taskstream.store.tables import Task as TaskRow

R = TypeVar("R", bound=Base)


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}  # datetime is a date


def _row(cls: type[R], values: dict[str, Any]) -> R:
    columns = cls.__table__.columns
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = columns[key].type
        if value is not None and isinstance(kind, UTCDateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and kind.python_type is date:
            value = date.fromisoformat(value)
        out[key] = value
    return cls(**out)


class TrashRepository:
    """The deleted_tasks table."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def keep(self, task: TaskEntity, *, now: datetime) -> None:
        """Stage the copy of a task about to be deleted."""
        rows = new_rows(task)
        snapshot = {
            "task": _columns(rows[TASKS][0]),
            "tags": [_columns(r) for r in rows[TASK_TAGS]],
            "reminders": [_columns(r) for r in rows[REMINDERS]],
        }
        self.session.add(
            DeletedTask(task_id=task.id, user_id=task.user_id, deleted_at=now, snapshot=snapshot)
        )

    async def take(self, task_id: str, *, user_id: str) -> TaskEntity | None:
        """The caller's deleted task with this id (its copy is removed), or None."""
        stmt = select(DeletedTask).where(DeletedTask.task_id == task_id, DeletedTask.user_id == user_id)
        kept = await self.session.scalar(stmt.with_for_update())
        if kept is None:
            return None
        await self.session.delete(kept)
        snapshot = kept.snapshot
        reminders = sorted((_row(Reminder, r) for r in snapshot["reminders"]), key=lambda r: r.position)
        tags = sorted(r["tag"] for r in snapshot["tags"])
        return to_entity(_row(TaskRow, snapshot["task"]), tags, reminders)

    async def forget_older(self, *, older_than: datetime, limit: int) -> int:
        """Delete up to `limit` copies of tasks deleted before `older_than`; returns how many."""
        ids = list(
            await self.session.scalars(
                select(DeletedTask.task_id).where(DeletedTask.deleted_at < older_than).limit(limit)
            )
        )
        if ids:
            await self.session.execute(delete(DeletedTask).where(DeletedTask.task_id.in_(ids)))
        return len(ids)
