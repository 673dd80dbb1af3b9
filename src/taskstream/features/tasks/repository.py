"""SQL of the tasks feature: tasks, their tags and reminders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.domain.task import Task as TaskEntity
from taskstream.features.tasks.mapping import copy_reminder, copy_to_row, new_rows, reminder_row, to_entity
from taskstream.features.tasks.query import TaskQuery
from taskstream.features.tasks.search import SearchPlanner, search_terms
from taskstream.store.profile import DatabaseProfile
from taskstream.store.tables import Reminder, Task, TaskTag, UTCDateTime
from taskstream.tracing import current_traceparent

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
SNOOZE_POSITION = 1000  # after any of a task's own reminders (at most REMINDERS_MAX of them)
_ZONE_MARGIN = timedelta(days=2)  # more than any UTC offset: 00:00 of a date in any zone is within it


def _due_sort_bound(instant: datetime, day: date, *, upper: bool) -> datetime:
    """A due_sort bound implied by `due_at vs instant OR due_date vs day` (all-day: 00:00 in its zone)."""
    midnight = datetime.combine(day, time(0), UTC)
    return max(instant, midnight + _ZONE_MARGIN) if upper else min(instant, midnight - _ZONE_MARGIN)


class TaskRepository:
    """Tasks and their tags; lists with filters, keyset pages and search (through the planner)."""

    def __init__(self, session: AsyncSession, profile: DatabaseProfile, search: SearchPlanner) -> None:
        self.session = session
        self._profile = profile
        self._search = search
        # Per task loaded as an entity: its row, tags and reminder rows as read. Held, so save() finds them
        # without reading again (the session's identity map holds objects weakly) and knows each reminder's
        # state as read.
        self._loaded: dict[str, tuple[Task, list[str], list[Reminder]]] = {}

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
        """The caller's task with its tags and reminders, or None (another user's task is None too)."""
        row = await self.get(task_id, user_id=user_id, for_update=for_update)
        return (await self.entities([row]))[0] if row is not None else None

    async def entities(self, rows: Sequence[Task]) -> list[TaskEntity]:
        """The entities of task rows, with their tags and reminders (two queries for all of them)."""
        ids = [row.id for row in rows]
        tags = await self.tags_of(ids)
        reminders = await ReminderRepository(self.session, self._profile).of_tasks(ids)
        self._loaded |= {row.id: (row, tags[row.id], reminders[row.id]) for row in rows}
        return [to_entity(row, tags[row.id], reminders[row.id]) for row in rows]

    def insert(self, task: TaskEntity) -> None:
        """Stage a new task with its tags and reminders."""
        self.session.add_all(new_rows(task))

    async def save(self, task: TaskEntity) -> None:
        """Write a task loaded by entity()/entities() back: its row, tags and reminders (rows of removed
        reminders are deleted), comparing with what was read instead of reading again."""
        row, tags, reminder_rows = self._loaded[task.id]
        copy_to_row(task, row)
        if tags != task.tags:
            await self.set_tags(row, task.tags)
        stored = {r.id: r for r in reminder_rows}
        for reminder in task.reminders:
            existing = stored.pop(reminder.id, None)
            if existing is None:
                self.session.add(reminder_row(task, reminder))
            else:
                read_state = existing.state  # as read: copy_reminder leaves the state to this method
                copy_reminder(reminder, existing, schedule_only=True)
                if reminder.state != read_state:
                    # Only from the state it was read in: the scheduler may have fired it meanwhile.
                    await self.session.execute(
                        update(Reminder)
                        .where(Reminder.id == reminder.id, Reminder.state == read_state)
                        .values(state=reminder.state)
                    )
        for gone in stored.values():
            await self.session.delete(gone)

    async def remove(self, task: TaskEntity) -> None:
        """Delete a task loaded by entity()/entities() with its tags and reminders."""
        await self.session.delete(self._loaded.pop(task.id)[0])

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

    async def all_of(self, user_id: str) -> list[Task]:
        """Every task of the user, oldest first (their data export)."""
        stmt = select(Task).where(Task.user_id == user_id).order_by(Task.created_at, Task.id)
        return list(await self.session.scalars(stmt))

    async def occurrence_exists(self, series_id: str, occurrence_key: str) -> bool:
        """True when the series already has the occurrence with this key."""
        found = await self.session.scalar(
            select(Task.id).where(Task.series_id == series_id, Task.occurrence_key == occurrence_key)
        )
        return found is not None

    async def delete(self, task: Task) -> None:
        """Delete a task (its tags and reminders go with it)."""
        await self.session.delete(task)

    async def tags_of(self, task_ids: Sequence[str]) -> dict[str, list[str]]:
        """Tags per task id, in name order."""
        result: dict[str, list[str]] = {tid: [] for tid in task_ids}
        if task_ids:
            rows = await self.session.execute(
                select(TaskTag.task_id, TaskTag.tag)
                .where(self._profile.one_of(TaskTag.task_id, task_ids))
                .order_by(TaskTag.tag)
            )
            for task_id, tag in rows:
                result[task_id].append(tag)
        return result

    async def set_tags(self, task: Task, tags: list[str]) -> None:
        """Replace the task's tags."""
        await self.session.execute(delete(TaskTag).where(TaskTag.task_id == task.id))
        self.session.add_all(TaskTag(task_id=task.id, tag=tag, user_id=task.user_id) for tag in tags)

    async def tag_counts(self, user_id: str) -> list[tuple[str, int, int]]:
        """(tag, open-task count, all-task count) for the user's tags, by name."""
        rows = await self.session.execute(
            select(
                TaskTag.tag,
                func.count().filter(Task.completed.is_(False)),
                func.count(),
            )
            .join(Task, Task.id == TaskTag.task_id)
            .where(TaskTag.user_id == user_id)
            .group_by(TaskTag.tag)
            .order_by(TaskTag.tag)
        )
        return [(tag, int(n_open), int(n_all)) for tag, n_open, n_all in rows]

    async def find(self, query: TaskQuery) -> list[Task]:
        """One page of the caller's tasks matching `query`, in sort order (limit + 1 rows to detect more)."""
        filtered = await self._conditions(query)
        if filtered is None:
            return []
        conditions, due_filtered, by_due = filtered
        if by_due:
            return await self._find_by_due(conditions, query, with_undated=not due_filtered)
        key, descending = self._sort_key(query.sort)
        if query.after is not None:
            value, last_id = query.after
            if descending:
                conditions.append(or_(key < value, and_(key == value, Task.id > last_id)))
            else:
                conditions.append(or_(key > value, and_(key == value, Task.id > last_id)))
        order = [key.desc() if descending else key.asc(), Task.id.asc()]
        rows = await self.session.scalars(
            select(Task).where(*conditions).order_by(*order).limit(query.limit + 1)
        )
        return list(rows)

    async def count(self, query: TaskQuery, *, cap: int) -> int:
        """How many of the caller's tasks match `query`'s filters (its sort and page aside), at most `cap`."""
        filtered = await self._conditions(query)
        if filtered is None:
            return 0
        matching = select(Task.id).where(*filtered[0]).limit(cap).subquery()
        return int(await self.session.scalar(select(func.count()).select_from(matching)) or 0)

    async def _conditions(self, query: TaskQuery) -> tuple[list[Any], bool, bool] | None:
        """(WHERE conditions, filtered by due?, walk by due?) of `query`; None when nothing can match."""
        conditions: list[Any] = [Task.user_id == query.user_id]
        if query.completed is not None:
            conditions.append(Task.completed.is_(query.completed))
        if query.priorities:
            conditions.append(Task.priority.in_(query.priorities))
        for tag in query.tags:
            conditions.append(
                Task.id.in_(
                    select(TaskTag.task_id).where(TaskTag.user_id == query.user_id, TaskTag.tag == tag)
                )
            )
        # Timed tasks compare instants; all-day tasks compare dates (they float: never shifted by a zone).
        # Each due filter also bounds due_sort (implied by it, see _due_sort_bound) so an index serves it.
        due_filtered = False
        if query.due_before is not None:
            instant, day = query.due_before
            conditions.append(or_(Task.due_at < instant, Task.due_date < day))
            conditions.append(Task.due_sort < _due_sort_bound(instant, day, upper=True))
            due_filtered = True
        if query.due_after is not None:
            instant, day = query.due_after
            conditions.append(or_(Task.due_at >= instant, Task.due_date >= day))
            conditions.append(Task.due_sort >= _due_sort_bound(instant, day, upper=False))
            due_filtered = True
        if query.overdue_at is not None:
            now, today = query.overdue_at
            conditions.append(Task.completed.is_(False))
            conditions.append(or_(Task.due_at < now, Task.due_date < today))
            conditions.append(Task.due_sort < _due_sort_bound(now, today, upper=True))
            due_filtered = True
        by_due = query.sort in ("due", "-due")
        if query.q:
            terms = search_terms(query.q)
            if not terms:
                return None
            match = await self._matches(terms, query.user_id, by_due=by_due)
            if match is None:
                return None
            condition, by_due = match
            conditions.append(condition)
        return conditions, due_filtered, by_due

    async def _find_by_due(
        self, conditions: list[Any], query: TaskQuery, *, with_undated: bool
    ) -> list[Task]:
        """The page in due order as two index walks on (user_id, due_sort, id): dated tasks, then undated.

        Same order as `_sort_key("due" | "-due")` (coalesce to a sentinel, then id), but each part is a range
        of ix_tasks_user_due_sort, so the database stops after limit + 1 rows instead of sorting every match.
        """
        descending = query.sort == "-due"
        sentinel = FAR_PAST if descending else FAR_FUTURE
        want = query.limit + 1
        dated = [*conditions, Task.due_sort.is_not(None)]
        undated = [*conditions, Task.due_sort.is_(None)]
        rows: list[Task] = []
        if query.after is not None:
            value, last_id = query.after
            if value == sentinel:  # the cursor is already among the undated tasks
                dated = []
                undated.append(Task.id > last_id)
            elif descending:
                dated += [Task.due_sort <= value, or_(Task.due_sort < value, Task.id > last_id)]
            else:
                dated += [Task.due_sort >= value, or_(Task.due_sort > value, Task.id > last_id)]
        if dated:
            due_order = Task.due_sort.desc() if descending else Task.due_sort.asc()
            stmt = select(Task).where(*dated).order_by(due_order, Task.id.asc()).limit(want)
            rows = list(await self.session.scalars(stmt))
        if len(rows) < want and with_undated:
            stmt = select(Task).where(*undated).order_by(Task.due_sort, Task.id.asc()).limit(want - len(rows))
            rows += await self.session.scalars(stmt)
        return rows

    async def _matches(self, terms: list[str], owner: str, *, by_due: bool) -> tuple[Any, bool] | None:
        """(condition, walk the due index?) for a search, or None when it cannot match anything."""
        return await self._search.condition(self.session, terms, owner, by_due=by_due)

    @staticmethod
    def _sort_key(sort: str) -> tuple[Any, bool]:
        """(sort expression, descending?) — tasks without a due date sort last either way."""
        far_future = literal(FAR_FUTURE, UTCDateTime())
        far_past = literal(FAR_PAST, UTCDateTime())
        keys: dict[str, tuple[Any, bool]] = {
            "due": (func.coalesce(Task.due_sort, far_future), False),
            "-due": (func.coalesce(Task.due_sort, far_past), True),
            "priority": (Task.priority, False),  # ascending, as every field: least pressing first
            "-priority": (Task.priority, True),  # descending: most pressing first
            "title": (func.lower(Task.title), False),
            "created": (Task.created_at, False),
            "-created": (Task.created_at, True),
        }
        return keys[sort]

    @staticmethod
    def sort_value(task: Task, sort: str) -> object:
        """The value of `task` under `sort`, as stored in a cursor."""
        if sort in ("due", "-due"):
            return task.due_sort or (FAR_FUTURE if sort == "due" else FAR_PAST)
        if sort in ("priority", "-priority"):
            return task.priority
        if sort == "title":
            return task.title.lower()
        return task.created_at


class ReminderRepository:
    """Reminder rows of tasks: written with their task, claimed by the scheduler when due."""

    def __init__(self, session: AsyncSession, profile: DatabaseProfile) -> None:
        self.session = session
        self._profile = profile
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

    async def of_tasks(self, task_ids: Sequence[str]) -> dict[str, list[Reminder]]:
        """Reminder rows per task id, in position order (snoozes last)."""
        result: dict[str, list[Reminder]] = {tid: [] for tid in task_ids}
        if task_ids:
            rows = await self.session.scalars(
                select(Reminder)
                .where(self._profile.one_of(Reminder.task_id, task_ids))
                .order_by(Reminder.position, Reminder.id)
            )
            for row in rows:
                result[row.task_id].append(row)
        return result

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

    async def next_fire_at(self) -> datetime | None:
        """The earliest pending fire time, or None."""
        return await self.session.scalar(
            select(func.min(Reminder.fire_at)).where(Reminder.state == "pending")
        )
