"""SQL of the tasks feature's changes: tasks, their tags and reminders (its reads for display: reads.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from taskstream.domain.task import Task as TaskEntity
from taskstream.domain.task import TaskReminder
from taskstream.features.tasks.mapping import (
    REMINDERS,
    TASK_TAGS,
    TASKS,
    new_reminder_values,
    new_rows,
    schedule_values,
    task_values,
    to_entity,
)
from taskstream.features.tasks.reads import REMINDERS_OF_TASK, TAGS_OF_TASK, TASK, TASK_FOR_UPDATE
from taskstream.store.raw import RawSelect
from taskstream.store.rows import insert_rows
from taskstream.store.tables import Reminder, Task
from taskstream.tracing import current_traceparent

SNOOZE_POSITION = 1000  # after any of a task's own reminders (at most REMINDERS_MAX of them)


class TaskRepository:
    """Tasks with their tags and reminders as entities to change and save (reads for display: reads.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Per task loaded as an entity: its row, tags and reminder rows as read (records, store/raw.py), so
        # save() writes only what changed and knows each reminder's state as read.
        self._loaded: dict[str, tuple[Any, list[str], list[Any]]] = {}

    def add(self, task: Task) -> None:
        """Stage a new task."""
        self.session.add(task)

    async def get(self, task_id: str, *, user_id: str, for_update: bool = False) -> Task | None:
        """The caller's task with this id, or None (another user's task is None too)."""
        stmt = select(Task).where(Task.id == task_id, Task.user_id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def entity(self, task_id: str, *, user_id: str, for_update: bool = False) -> TaskEntity | None:
        """The caller's task with its tags and reminders, or None (another user's task is None too);
        `for_update` locks its row until the transaction ends (PostgreSQL; SQLite's writers hold the
        database). One statement per table, run as fixed statements (store/raw.py)."""
        connection = await self.session.connection()
        found = await (TASK_FOR_UPDATE if for_update else TASK).rows(connection, task_id, user_id)
        if not found:
            return None
        tags = [tag for (tag,) in await TAGS_OF_TASK.rows(connection, task_id)]
        reminders = await REMINDERS_OF_TASK.rows(connection, task_id)
        self._loaded[task_id] = (found[0], tags, reminders)
        return to_entity(found[0], tags, reminders)

    async def insert(self, task: TaskEntity) -> None:
        """Insert a new task with its tags and reminders (one statement per table)."""
        await insert_rows(self.session, new_rows(task))

    async def save(self, task: TaskEntity) -> None:
        """Write a task loaded by entity() back: the columns that differ from what was read, its tags when
        they changed, its reminders (rows of removed ones deleted); one statement per table changed, no
        reading again. A reminder's state moves only from the state it was read in (the scheduler may have
        fired it meanwhile)."""
        row, tags, reminder_rows = self._loaded[task.id]
        values = task_values(task)
        changed = {name: value for name, value in values.items() if getattr(row, name) != value}
        if changed:
            await self.session.execute(update(TASKS).where(TASKS.c.id == task.id).values(changed))
        if tags != task.tags:
            await self.session.execute(delete(TASK_TAGS).where(TASK_TAGS.c.task_id == task.id))
            if task.tags:
                rows = [{"task_id": task.id, "tag": tag, "user_id": task.user_id} for tag in task.tags]
                await self.session.execute(insert(TASK_TAGS), rows)
        stored = {r.id: r for r in reminder_rows}
        new = [new_reminder_values(task, r) for r in task.reminders if r.id not in stored]
        if new:
            await self.session.execute(insert(REMINDERS), new)
        for reminder in task.reminders:
            existing = stored.pop(reminder.id, None)
            if existing is not None:
                await self._save_reminder(reminder, existing)
        if stored:
            await self.session.execute(delete(REMINDERS).where(REMINDERS.c.id.in_(list(stored))))

    async def _save_reminder(self, reminder: TaskReminder, existing: Any) -> None:
        schedule = {k: v for k, v in schedule_values(reminder).items() if getattr(existing, k) != v}
        if "fire_at" in schedule:  # scheduled anew: its firing's trace links to this one
            schedule["traceparent"] = current_traceparent()
        if reminder.state != existing.state:
            await self.session.execute(
                update(REMINDERS)
                .where(REMINDERS.c.id == reminder.id, REMINDERS.c.state == existing.state)
                .values(state=reminder.state)
            )
        if schedule:
            await self.session.execute(
                update(REMINDERS).where(REMINDERS.c.id == reminder.id).values(schedule)
            )

    async def remove(self, task: TaskEntity) -> None:
        """Delete a task loaded by entity() with its tags and reminders (the database cascades)."""
        self._loaded.pop(task.id)
        await self.session.execute(delete(TASKS).where(TASKS.c.id == task.id))

    async def get_any(self, task_id: str) -> Task | None:
        """The task with this id whoever owns it (for services acting on events)."""
        return await self.session.get(Task, task_id)

    async def load(self, task_ids: Sequence[str]) -> list[Task]:
        """Load these tasks (whoever owns them) in one query, so get_any finds them without a round trip.

        The session's identity map holds objects weakly: keep the returned list while get_any is used.
        """
        if not task_ids:
            return []
        return list(await self.session.scalars(select(Task).where(Task.id.in_(set(task_ids)))))

    async def occurrence_exists(self, series_id: str, occurrence_key: str) -> bool:
        """True when the series already has the occurrence with this key."""
        found = await self.session.scalar(
            select(Task.id).where(Task.series_id == series_id, Task.occurrence_key == occurrence_key)
        )
        return found is not None

    async def delete(self, task: Task) -> None:
        """Delete a task (its tags and reminders go with it)."""
        await self.session.delete(task)


# The earliest pending fire time (the scheduler reads it at every wake-up): a range of
# ix_reminders_state_fire_at.
NEXT_FIRE = RawSelect(
    REMINDERS, ["fire_at"], where="state = 'pending' AND fire_at IS NOT NULL", order="fire_at", limit=1
)


async def next_fire_at(connection: AsyncConnection) -> datetime | None:
    """The earliest fire time of a pending reminder, or None (one fixed statement)."""
    found = await NEXT_FIRE.rows(connection)
    return found[0].fire_at if found else None


class ReminderRepository:
    """Reminder rows of tasks: written with their task, claimed by the scheduler when due."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # The tasks of the rows claim_due returned, held so the identity map keeps them (it holds weakly).
        self._claimed_tasks: list[Task] = []

    def add_all(self, reminders: Sequence[Reminder]) -> None:
        """Stage reminder rows."""
        self.session.add_all(reminders)

    def add_snooze(self, task: Task, *, fire_at: datetime) -> None:
        """Stage a one-off reminder of `task` at `fire_at` (a snoozed notification); it lists after the
        task's own reminders and goes when the due time changes."""
        self.session.add(
            Reminder(
                id=str(uuid.uuid4()),
                task_id=task.id,
                user_id=task.user_id,
                kind="snooze",
                duration=None,
                at=fire_at,
                position=SNOOZE_POSITION,
                fire_at=fire_at,
                state="pending",
                fired_at=None,
                traceparent=current_traceparent(),
            )
        )

    async def get(self, reminder_id: str) -> Reminder | None:
        """The reminder row, or None."""
        return await self.session.get(Reminder, reminder_id)

    async def claim_due(self, now: datetime, *, limit: int) -> list[Reminder]:
        """Pending reminders whose fire time has come, locked for this transaction (SKIP LOCKED on PG)."""
        stmt = (
            select(Reminder)
            .where(Reminder.state == "pending", Reminder.fire_at <= now)
            .order_by(Reminder.fire_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(await self.session.scalars(stmt))
        if rows:
            # One query loads the rows' tasks into the session, so the caller's per-row get_any() finds each
            # in the identity map instead of a round trip (and an autoflush) per reminder. The identity map
            # holds objects weakly: keep them referenced for this unit of work (docs/benchmarks.md, bench 4).
            task_ids = {row.task_id for row in rows}
            self._claimed_tasks = list(await self.session.scalars(select(Task).where(Task.id.in_(task_ids))))
        return rows

    async def pending_until(self, until: datetime) -> dict[str, datetime]:
        """Pending reminders firing at or before `until` (UTC): reminder id → fire time."""
        rows = await self.session.execute(
            select(Reminder.id, Reminder.fire_at).where(
                Reminder.state == "pending", Reminder.fire_at <= until
            )
        )
        return {row.id: row.fire_at for row in rows if row.fire_at is not None}
