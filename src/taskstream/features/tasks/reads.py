"""Reads of the caller's tasks as the API shows them: one task, a page of a list or search, counts, tags.

Views in the command-query sense: statements on the tables (Core, and the hottest fixed ones written once
and run on the driver: store/raw.py), rows straight to the API's JSON fields (or to the entity, for the
export); no ORM session, identity map or unit of work. They run on a connection of
`UnitOfWorkFactory.views()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from taskstream.domain.task import Task as TaskEntity
from taskstream.features.tasks.mapping import REMINDERS, TASK_TAGS, TASKS, to_entity
from taskstream.features.tasks.query import TaskQuery
from taskstream.features.tasks.search import SearchPlanner, search_terms
from taskstream.features.tasks.views import task_json
from taskstream.store.raw import CompiledSelects, InlineReads, RawSelect
from taskstream.store.tables import Task, TaskTag, UTCDateTime

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
_ZONE_MARGIN = timedelta(days=2)  # more than any UTC offset: 00:00 of a date in any zone is within it

Record = Any  # a row as a named tuple of its columns (RawSelect.record)

# One task of its owner, with its tags (name order) and reminders (position order; snoozes last); the tags
# and reminders of a page of tasks. The hottest reads: run as fixed statements (store/raw.py).
TASK = RawSelect(TASKS, where="id = $1 AND user_id = $2")
TASK_FOR_UPDATE = RawSelect(TASKS, where="id = $1 AND user_id = $2", for_update=True)
TAGS_OF_TASK = RawSelect(TASK_TAGS, ["tag"], where="task_id = $1", order="tag")
REMINDERS_OF_TASK = RawSelect(REMINDERS, where="task_id = $1", order="position, id")
TAGS_OF_TASKS = RawSelect(TASK_TAGS, ["task_id", "tag"], where="task_id = ANY($1)", order="tag")
REMINDERS_OF_TASKS = RawSelect(REMINDERS, where="task_id = ANY($1)", order="position, id")
# Pages of lists and searches (and the export): statements built per request, each shape compiled once.
TASK_PAGES = CompiledSelects(TASKS)


def _due_sort_bound(instant: datetime, day: date, *, upper: bool) -> datetime:
    """A due_sort bound implied by `due_at vs instant OR due_date vs day` (all-day: 00:00 in its zone)."""
    midnight = datetime.combine(day, time(0), UTC)
    return max(instant, midnight + _ZONE_MARGIN) if upper else min(instant, midnight - _ZONE_MARGIN)


class TaskViews:
    """The caller's tasks read on one connection: a task, pages of lists and searches (the
    search through the planner), counts and tag counts. Task rows are records (store/raw.py): named tuples
    of the columns."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[AsyncConnection]],
        search: SearchPlanner,
        *,
        inline: InlineReads | None = None,
    ) -> None:
        self._connect = connect  # a pooled read connection, checked out on first need
        self._connection: AsyncConnection | None = None
        self._search = search
        self._inline = inline  # SQLite: the fixed statements on this thread (store/raw.py)

    async def connection(self) -> AsyncConnection:
        """The read connection of these views (checked out on the first call)."""
        if self._connection is None:
            self._connection = await self._connect()
        return self._connection

    async def _fixed(self, statement: RawSelect, *params: Any) -> list[Record]:
        """The rows of a fixed statement: inline where these views have it and the database is not busy,
        else on the pooled connection."""
        if self._inline is not None:
            found = statement.inline_rows(self._inline, *params)
            if found is not None:
                return found
        return await statement.rows(await self.connection(), *params)

    async def task(self, task_id: str, *, user_id: str) -> dict[str, Any] | None:
        """The caller's task as TaskOut's JSON fields (views.task_json), or None (another user's task too)."""
        found = await self._fixed(TASK, task_id, user_id)
        if not found:
            return None
        tags = [tag for (tag,) in await self._fixed(TAGS_OF_TASK, task_id)]
        return task_json(found[0], tags, await self._fixed(REMINDERS_OF_TASK, task_id))

    async def shown(self, rows: Sequence[Record]) -> list[dict[str, Any]]:
        """Task rows as TaskOut's JSON fields, with their tags and reminders (two statements for all)."""
        tags, reminders = await self._children(rows)
        return [task_json(row, tags[row.id], reminders[row.id]) for row in rows]

    async def entities(self, rows: Sequence[Record]) -> list[TaskEntity]:
        """The entities of task rows, with their tags and reminders (two statements for all of them)."""
        tags, reminders = await self._children(rows)
        return [to_entity(row, tags[row.id], reminders[row.id]) for row in rows]

    async def _children(self, rows: Sequence[Record]) -> tuple[dict[str, list[str]], dict[str, list[Record]]]:
        """(tags, reminder rows) per task id of `rows`."""
        ids = [row.id for row in rows]
        tags: dict[str, list[str]] = {task_id: [] for task_id in ids}
        reminders: dict[str, list[Record]] = {task_id: [] for task_id in ids}
        if ids:
            for task_id, tag in await self._fixed(TAGS_OF_TASKS, ids):
                tags[task_id].append(tag)
            for reminder in await self._fixed(REMINDERS_OF_TASKS, ids):
                reminders[reminder.task_id].append(reminder)
        return tags, reminders

    async def all_of(self, user_id: str) -> list[TaskEntity]:
        """Every task of the user, open and completed, oldest first (their data export)."""
        stmt = select(TASKS).where(TASKS.c.user_id == user_id).order_by(TASKS.c.created_at, TASKS.c.id)
        return await self.entities(await self._tasks(stmt))

    async def tag_counts(self, user_id: str) -> list[tuple[str, int, int]]:
        """(tag, open-task count, all-task count) for the user's tags, by name."""
        rows = await (await self.connection()).execute(
            select(TaskTag.tag, func.count().filter(Task.completed.is_(False)), func.count())
            .join(Task, Task.id == TaskTag.task_id)
            .where(TaskTag.user_id == user_id)
            .group_by(TaskTag.tag)
            .order_by(TaskTag.tag)
        )
        return [(tag, int(n_open), int(n_all)) for tag, n_open, n_all in rows]

    async def find(self, query: TaskQuery) -> list[Record]:
        """One page of the caller's task rows matching `query`, in sort order (limit + 1 to detect more)."""
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
        stmt = select(TASKS).where(*conditions).order_by(*order).limit(query.limit + 1)
        return await self._tasks(stmt)

    async def count(self, query: TaskQuery, *, cap: int) -> int:
        """How many of the caller's tasks match `query`'s filters (its sort and page aside), at most `cap`."""
        filtered = await self._conditions(query)
        if filtered is None:
            return 0
        matching = select(Task.id).where(*filtered[0]).limit(cap).subquery()
        counted = await (await self.connection()).execute(select(func.count()).select_from(matching))
        return int(counted.scalar() or 0)

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
            match = await self._search.condition(await self.connection(), terms, query.user_id, by_due=by_due)
            if match is None:
                return None
            condition, by_due = match
            conditions.append(condition)
        return conditions, due_filtered, by_due

    async def _find_by_due(
        self, conditions: list[Any], query: TaskQuery, *, with_undated: bool
    ) -> list[Record]:
        """The page in due order as two index walks on (user_id, due_sort, id): dated tasks, then undated.

        Same order as `_sort_key("due" | "-due")` (coalesce to a sentinel, then id), but each part is a range
        of ix_tasks_user_due_sort, so the database stops after limit + 1 rows instead of sorting every match.
        """
        descending = query.sort == "-due"
        sentinel = FAR_PAST if descending else FAR_FUTURE
        want = query.limit + 1
        dated = [*conditions, Task.due_sort.is_not(None)]
        undated = [*conditions, Task.due_sort.is_(None)]
        rows: list[Record] = []
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
            stmt = select(TASKS).where(*dated).order_by(due_order, Task.id.asc()).limit(want)
            rows = await self._tasks(stmt)
        if len(rows) < want and with_undated:
            stmt = (
                select(TASKS).where(*undated).order_by(Task.due_sort, Task.id.asc()).limit(want - len(rows))
            )
            rows += await self._tasks(stmt)
        return rows

    async def _tasks(self, stmt: Select[Any]) -> list[Any]:
        """The task rows of a SELECT of every column of tasks, run on the driver (store/raw.py), as records
        (their attributes read ten times faster than a SQLAlchemy Row's: a page reads twenty of each of 50
        rows)."""
        return await TASK_PAGES.rows(await self.connection(), stmt)

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
    def sort_value(task: Record, sort: str) -> object:
        """The value of a task row under `sort`, as stored in a cursor."""
        if sort in ("due", "-due"):
            return task.due_sort or (FAR_FUTURE if sort == "due" else FAR_PAST)
        if sort in ("priority", "-priority"):
            return task.priority
        if sort == "title":
            return task.title.lower()
        return task.created_at
