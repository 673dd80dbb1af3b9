"""Task use cases: create, change, complete, reopen, delete, restore, list; each commits its events.

The rules are the entity's (domain/task.py); a use case loads it, calls one change, saves it and appends
the CloudEvent of what it did to task-events and task-updates in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from taskstream.domain.clock import Clock
from taskstream.domain.errors import Conflict, NotFound, PreconditionFailed
from taskstream.domain.task import Task, TaskChanges, TaskEvent
from taskstream.domain.tasks import ALL_DAY_AT
from taskstream.events import topics
from taskstream.features.tasks.mapping import new_rows
from taskstream.features.tasks.query import TaskQuery
from taskstream.features.tasks.reads import TaskViews
from taskstream.features.tasks.schemas import TaskOut
from taskstream.features.tasks.views import task_event, task_out
from taskstream.store.uow import UnitOfWork, UnitOfWorkFactory

_TOPICS = (topics.TASK_EVENTS, topics.TASK_UPDATES)


@dataclass
class Page:
    """One page of a list: items and the opaque cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]  # TaskOut's JSON fields (views.task_json)
    next_cursor: tuple[object, str] | None = None


class TaskService:
    """The task use cases. Every change writes task-events and task-updates outbox rows in its transaction."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def create(
        self, user_id: str, changes: TaskChanges, *, default_tz: str, all_day_at: time = ALL_DAY_AT
    ) -> TaskOut:
        """Create a task; ValidationError names the bad field. `all_day_at`: the user's time of day that
        reminders of an all-day task count from."""
        now = self._clock.now()
        # Everything but the writes happens before the transaction, so it holds the write lock briefly.
        event = Task.create(user_id, changes, default_tz=default_tz, now=now, all_day_at=all_day_at)
        # Insert-only, so concurrent creates share a transaction (group commit).
        await self._uow.insert_only(new_rows(event.task), [(task_event(event, now=now), _TOPICS)])
        return task_out(event.task)

    async def get(self, user_id: str, task_id: str) -> dict[str, Any]:
        """The caller's task as TaskOut's JSON fields; NotFound when missing or another user's."""
        async with self._uow.views() as views:
            task = await views.task(task_id, user_id=user_id)
        if task is None:
            raise NotFound("task not found", field="id")
        return task

    async def find(self, query: TaskQuery) -> Page:
        """One page of the caller's tasks (see TaskQuery)."""
        async with self._uow.views() as views:
            rows = await views.find(query)
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            items = await views.shown(rows)
        cursor = (TaskViews.sort_value(rows[-1], query.sort), rows[-1].id) if more and rows else None
        return Page(items=items, next_cursor=cursor)

    async def export(self, user_id: str) -> list[TaskOut]:
        """Every task of the user, open and completed, oldest first (their data export)."""
        async with self._uow.views() as views:
            return [task_out(t) for t in await views.all_of(user_id)]

    async def counts(self, queries: dict[str, TaskQuery], *, cap: int) -> dict[str, int]:
        """How many tasks each query's filters match (at most `cap` each), on one read connection."""
        async with self._uow.views() as views:
            return {name: await views.count(query, cap=cap) for name, query in queries.items()}

    async def tags(self, user_id: str) -> list[tuple[str, int, int]]:
        """(tag, open-task count, all-task count) for the user's tags, by name."""
        async with self._uow.views() as views:
            return await views.tag_counts(user_id)

    async def update(
        self,
        user_id: str,
        task_id: str,
        changes: TaskChanges,
        *,
        if_match: int | None = None,
        all_day_at: time = ALL_DAY_AT,
    ) -> TaskOut:
        """Apply the given fields; PreconditionFailed when `if_match` is not the current version."""
        async with self._uow() as uow:
            task = await _owned(uow, user_id, task_id, for_update=True)
            _check_version(task, if_match)
            now = self._clock.now()
            event = task.change(changes, now=now, all_day_at=all_day_at)
            return await self._commit(uow, task, event, now=now)

    async def complete(self, user_id: str, task_id: str) -> TaskOut:
        """Mark done (idempotent: an already completed task is returned unchanged, with no event)."""
        async with self._uow() as uow:
            task = await _owned(uow, user_id, task_id, for_update=True)
            now = self._clock.now()
            return await self._commit(uow, task, task.complete(now=now), now=now)

    async def reopen(self, user_id: str, task_id: str) -> TaskOut:
        """Mark not done (idempotent); reminders still ahead are scheduled again."""
        async with self._uow() as uow:
            task = await _owned(uow, user_id, task_id, for_update=True)
            now = self._clock.now()
            return await self._commit(uow, task, task.reopen(now=now), now=now)

    async def delete(self, user_id: str, task_id: str, *, if_match: int | None = None) -> None:
        """Delete the task, its tags and reminders (kept aside for restore()); NotFound when missing,
        PreconditionFailed when stale."""
        async with self._uow() as uow:
            task = await _owned(uow, user_id, task_id, for_update=True)
            _check_version(task, if_match)
            now = self._clock.now()
            uow.trash.keep(task, now=now)
            await uow.tasks.remove(task)
            uow.outbox.append(task_event(task.delete(), now=now), *_TOPICS)
            await uow.commit()

    async def restore(self, user_id: str, task_id: str) -> TaskOut:
        """Bring a deleted task back with the same id, tags and reminders, one version later (idempotent:
        a task that is there is returned unchanged). NotFound when it was never the caller's or was
        deleted longer ago than the outbox retention; Conflict when its series has that occurrence again."""
        async with self._uow() as uow:
            task = await uow.trash.take(task_id, user_id=user_id)
            if task is None:
                return task_out(await _owned(uow, user_id, task_id))
            key = task.occurrence_key
            if key is not None and await uow.tasks.occurrence_exists(task.series_id, key):
                raise Conflict("the series has this occurrence again; restore is not possible", field="id")
            now = self._clock.now()
            event = task.restore(now=now)
            await uow.tasks.insert(task)
            uow.outbox.append(task_event(event, now=now), *_TOPICS)
            await uow.commit()
            return task_out(task)

    async def create_next_occurrence(self, uow: UnitOfWork, previous: Task) -> Task | None:
        """In the caller's transaction: the occurrence after the completed `previous`, unless the series
        ended or that occurrence exists already."""
        now = self._clock.now()
        user = await uow.users.get(previous.user_id)
        event = previous.next_occurrence(now=now, all_day_at=user.all_day_at if user else ALL_DAY_AT)
        if event is None:
            return None
        key = event.task.occurrence_key
        assert key is not None
        if await uow.tasks.occurrence_exists(previous.series_id, key):
            return None
        await uow.tasks.insert(event.task)
        uow.outbox.append(task_event(event, now=now), *_TOPICS)
        return event.task

    @staticmethod
    async def _commit(uow: UnitOfWork, task: Task, event: TaskEvent | None, *, now: datetime) -> TaskOut:
        """Save the change and its event; nothing to write when the change changed nothing."""
        if event is not None:
            await uow.tasks.save(task)
            uow.outbox.append(task_event(event, now=now), *_TOPICS)
            await uow.commit()
        return task_out(task)


async def _owned(uow: UnitOfWork, user_id: str, task_id: str, *, for_update: bool = False) -> Task:
    task = await uow.tasks.entity(task_id, user_id=user_id, for_update=for_update)
    if task is None:
        raise NotFound("task not found", field="id")
    return task


def _check_version(task: Task, if_match: int | None) -> None:
    if if_match is not None and if_match != task.version:
        raise PreconditionFailed(
            f"task is at version {task.version}, not {if_match}; reload it and try again", field="If-Match"
        )
