"""Task use cases: create, change, complete, reopen, delete; each commits the change with its events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from taskstream.domain import recurrence as rec
from taskstream.domain.clock import Clock
from taskstream.domain.errors import NotFound, PreconditionFailed, ValidationError
from taskstream.domain.tasks import (
    Due,
    Priority,
    ReminderSpec,
    check_reminders,
    check_text,
    check_year,
    clean_tags,
    clean_title,
    zone,
)
from taskstream.events import topics
from taskstream.events.envelope import CloudEvent, make_event
from taskstream.events.payloads import TASK_EVENT_TYPES, ReminderView, TaskEventData, TaskEventType, TaskView
from taskstream.features.tasks.repository import TaskQuery, TaskRepository
from taskstream.features.tasks.views import task_view
from taskstream.store.group_commit import GroupCommitter
from taskstream.store.tables import Reminder, Task
from taskstream.store.uow import UnitOfWork, UnitOfWorkFactory

UNSET: Any = object()


@dataclass
class TaskFields:
    """Validated-shape input of create (every field) and update (only the fields given; others UNSET)."""

    title: str = UNSET
    description: str | None = UNSET
    priority: str = UNSET
    tags: list[str] = UNSET
    due_at: datetime | None = UNSET
    due_date: date | None = UNSET
    timezone: str | None = UNSET
    recurrence: str | None = UNSET
    repeat_from: str = UNSET
    keep_missed: bool = UNSET
    reminders: list[ReminderSpec] = UNSET

    def given(self) -> dict[str, Any]:
        """The fields that were supplied."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


@dataclass
class Page:
    """One page of a list: items and the opaque cursor of the next page (None at the end)."""

    items: list[TaskView]
    next_cursor: tuple[object, str] | None = None


@dataclass
class _Snapshot:
    view: TaskView
    changes: dict[str, Any] = field(default_factory=dict)


class TaskService:
    """The task use cases. Every change writes task-events and task-updates outbox rows in its transaction."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        self._inserts = GroupCommitter(uow)  # creates are insert-only: concurrent ones share a transaction

    def close(self) -> None:
        """Release what the group commit holds (SQLite: its writer thread and connection)."""
        self._inserts.close()

    async def create(self, user_id: str, data: TaskFields, *, default_tz: str) -> TaskView:
        """Create a task; ValidationError names the bad field."""
        now = self._clock.now()
        # Everything but the writes happens before the transaction, so it holds the write lock briefly.
        task = self._new_task(user_id, data, default_tz=default_tz, now=now)
        specs = data.reminders if data.reminders is not UNSET else []
        check_reminders(specs, _due_of(task))
        tags = clean_tags(data.tags if data.tags is not UNSET else [])
        reminders = self._reminder_rows(task, specs, now=now)
        view = task_view(task, tags=tags, reminders=reminders)
        event = self._event("created", view, now=now)
        await self._inserts.insert(
            [task, *TaskRepository.tag_rows(task, tags), *reminders],
            [(event, (topics.TASK_EVENTS, topics.TASK_UPDATES))],
        )
        return view

    async def get(self, user_id: str, task_id: str) -> TaskView:
        """The caller's task; NotFound when missing or another user's."""
        async with self._uow.reader() as uow:
            task = await self._owned(uow, user_id, task_id)
            return await self._view(uow, task)

    async def find(self, query: TaskQuery) -> Page:
        """One page of the caller's tasks (see TaskQuery)."""
        async with self._uow.reader() as uow:
            rows = await uow.tasks.find(query)
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            tags = await uow.tasks.tags_of([t.id for t in rows])
            reminders = await uow.reminders.of_tasks([t.id for t in rows])
            items = [task_view(t, tags=tags[t.id], reminders=reminders[t.id]) for t in rows]
            cursor = (TaskRepository.sort_value(rows[-1], query.sort), rows[-1].id) if more and rows else None
            return Page(items=items, next_cursor=cursor)

    async def tags(self, user_id: str) -> list[tuple[str, int, int]]:
        """(tag, open-task count, all-task count) for the user's tags, by name."""
        async with self._uow.reader() as uow:
            return await uow.tasks.tag_counts(user_id)

    async def update(
        self, user_id: str, task_id: str, data: TaskFields, *, if_match: int | None = None
    ) -> TaskView:
        """Apply the given fields; PreconditionFailed when `if_match` is not the current version."""
        now = self._clock.now()
        async with self._uow() as uow:
            task = await self._owned(uow, user_id, task_id, for_update=True)
            _check_version(task, if_match)
            before = await self._view(uow, task)
            given = data.given()
            self._apply(task, given)
            due_changed = (before.due_at, before.due_date, before.timezone) != (
                task.due_at,
                task.due_date,
                task.timezone,
            )
            if due_changed or "recurrence" in given:
                self._reanchor(task)
            tags = before.tags
            if "tags" in given:
                tags = clean_tags(given["tags"])
                await uow.tasks.set_tags(task, tags)
            rows = (await uow.reminders.of_tasks([task.id]))[task.id]
            if "reminders" in given:
                check_reminders(given["reminders"], _due_of(task))
                await uow.reminders.delete_for_task(task.id)
                rows = self._write_reminders(uow, task, given["reminders"], now=now)
            elif due_changed:
                check_reminders([_spec_of(r) for r in rows if r.kind != "snooze"], _due_of(task))
                rows = await self._recompute(uow, task, rows, now=now)
            after = task_view(task, tags=tags, reminders=rows)
            changes = _diff(before, after)
            if not changes:
                return before
            task.version += 1
            task.updated_at = now
            after = after.model_copy(update={"version": task.version, "updated_at": now})
            self._emit(uow, "updated", after, now=now, changes=changes)
            await uow.commit()
            return after

    async def complete(self, user_id: str, task_id: str) -> TaskView:
        """Mark done (idempotent: an already completed task is returned unchanged, with no event)."""
        now = self._clock.now()
        async with self._uow() as uow:
            task = await self._owned(uow, user_id, task_id, for_update=True)
            if task.completed:
                return await self._view(uow, task)
            task.completed, task.completed_at = True, now
            task.version += 1
            task.updated_at = now
            await uow.reminders.cancel_pending(task.id)
            view = await self._view(uow, task)
            self._emit(uow, "completed", view, now=now, changes={"completed": {"old": False, "new": True}})
            await uow.commit()
            return view

    async def reopen(self, user_id: str, task_id: str) -> TaskView:
        """Mark not done (idempotent); reminders still ahead are scheduled again."""
        now = self._clock.now()
        async with self._uow() as uow:
            task = await self._owned(uow, user_id, task_id, for_update=True)
            if not task.completed:
                return await self._view(uow, task)
            task.completed, task.completed_at = False, None
            task.version += 1
            task.updated_at = now
            rows = (await uow.reminders.of_tasks([task.id]))[task.id]
            for row in rows:
                if row.state == "cancelled" and row.fire_at is not None and row.fire_at > now:
                    row.state = "pending"
            view = await self._view(uow, task)
            self._emit(uow, "reopened", view, now=now, changes={"completed": {"old": True, "new": False}})
            await uow.commit()
            return view

    async def delete(self, user_id: str, task_id: str, *, if_match: int | None = None) -> None:
        """Delete the task, its tags and reminders; NotFound when missing, PreconditionFailed when stale."""
        now = self._clock.now()
        async with self._uow() as uow:
            task = await self._owned(uow, user_id, task_id, for_update=True)
            _check_version(task, if_match)
            view = await self._view(uow, task)
            await uow.tasks.delete(task)
            self._emit(uow, "deleted", view, now=now)
            await uow.commit()

    async def create_next_occurrence(self, uow: UnitOfWork, previous: TaskView, due: Due) -> TaskView | None:
        """In the caller's transaction: the series' occurrence due at `due`, unless it exists already."""
        now = self._clock.now()
        key = due.occurrence_key()
        assert key is not None
        if await uow.tasks.occurrence_exists(previous.series_id, key):
            return None
        source = await uow.tasks.get_any(previous.id)
        task = Task(
            id=str(uuid.uuid4()),
            user_id=previous.user_id,
            series_id=previous.series_id,
            occurrence_key=key,
            title=previous.title,
            description=previous.description,
            priority=Priority.parse(previous.priority),
            due_at=due.at,
            due_date=due.on,
            timezone=previous.timezone,
            recurrence=previous.recurrence,
            repeat_from=previous.repeat_from,
            keep_missed=previous.keep_missed,
            series_anchor=source.series_anchor
            if source
            else _anchor_text(_due_of_view(previous), previous.timezone),
            completed=False,
            completed_at=None,
            created_at=now,
            updated_at=now,
            version=1,
        )
        task.due_sort = due.sort_key(zone(task.timezone))
        uow.tasks.add(task)
        uow.tasks.add_tags(task, list(previous.tags))
        shift = _shift(_due_of_view(previous), due, zone(task.timezone))
        specs = [_shifted(r, shift) for r in previous.reminders]
        rows = self._write_reminders(uow, task, specs, now=now)
        view = task_view(task, tags=list(previous.tags), reminders=rows)
        self._emit(uow, "created", view, now=now, actor="recurring")
        return view

    # -- helpers -------------------------------------------------------------------------------------------

    async def _owned(self, uow: UnitOfWork, user_id: str, task_id: str, *, for_update: bool = False) -> Task:
        task = await uow.tasks.get(task_id, user_id=user_id, for_update=for_update)
        if task is None:
            raise NotFound("task not found", field="id")
        return task

    async def _view(self, uow: UnitOfWork, task: Task) -> TaskView:
        tags = (await uow.tasks.tags_of([task.id]))[task.id]
        reminders = (await uow.reminders.of_tasks([task.id]))[task.id]
        return task_view(task, tags=tags, reminders=reminders)

    def _new_task(self, user_id: str, data: TaskFields, *, default_tz: str, now: datetime) -> Task:
        task_id = str(uuid.uuid4())
        task = Task(
            id=task_id,
            user_id=user_id,
            series_id=task_id,
            occurrence_key=None,
            title="",
            description=None,
            priority=0,
            due_at=None,
            due_date=None,
            timezone=default_tz,
            recurrence=None,
            repeat_from="due",
            keep_missed=False,
            series_anchor=None,
            completed=False,
            completed_at=None,
            created_at=now,
            updated_at=now,
            version=1,
        )
        given = data.given()
        if "title" not in given:
            raise ValidationError("title is required", field="title")
        if given.get("timezone") is None:
            given.pop("timezone", None)
        self._apply(task, given)
        self._reanchor(task)
        return task

    def _apply(self, task: Task, given: dict[str, Any]) -> None:
        """Validate and set scalar fields (tags and reminders are written by the caller)."""
        if "title" in given:
            task.title = clean_title(given["title"] or "")
        if "description" in given:
            description = given["description"]
            if description is not None:
                check_text(description, field="description")
                if len(description) > 10_000:
                    raise ValidationError("description is longer than 10000 characters", field="description")
            task.description = description or None
        if "priority" in given:
            task.priority = int(Priority.parse(given["priority"] or ""))
        if "timezone" in given:
            task.timezone = given["timezone"] or task.timezone
        tz = zone(task.timezone)
        if "due_at" in given or "due_date" in given:
            due_at = given.get("due_at", task.due_at if "due_date" not in given else None)
            due_date = given.get("due_date", task.due_date if "due_at" not in given else None)
            if given.get("due_at") is not None and given.get("due_date") is not None:
                raise ValidationError("give due_at or due_date, not both", field="due_date")
            if due_at is not None:
                if due_at.tzinfo is None:
                    raise ValidationError("due_at needs a UTC offset (RFC 3339)", field="due_at")
                due_at, due_date = due_at.astimezone(UTC), None
            for value, name in ((due_at, "due_at"), (due_date, "due_date")):
                if value is not None:
                    check_year(value, field=name)
            task.due_at, task.due_date = due_at, due_date
        if "recurrence" in given:
            task.recurrence = rec.normalize_rrule(given["recurrence"]) if given["recurrence"] else None
        if "repeat_from" in given:
            if given["repeat_from"] not in ("due", "completion"):
                raise ValidationError("repeat_from must be due or completion", field="repeat_from")
            task.repeat_from = given["repeat_from"]
        if "keep_missed" in given:
            task.keep_missed = bool(given["keep_missed"])
        if task.recurrence:
            if task.due_at is None and task.due_date is None:
                raise ValidationError("a recurring task needs due_at or due_date", field="recurrence")
            due = task.due_at.astimezone(tz) if task.due_at is not None else task.due_date
            rec.Series(  # validates the rule against its first due (e.g. UNTIL before it)
                rrule=task.recurrence,
                anchor=due,  # type: ignore[arg-type]
                tz=task.timezone,
                repeat_from=task.repeat_from,  # type: ignore[arg-type]
            )
        task.due_sort = _due_of(task).sort_key(tz)

    def _reanchor(self, task: Task) -> None:
        """The series' fixed anchor is the due of the occurrence whose due or rule the user set."""
        due = _due_of(task)
        task.occurrence_key = due.occurrence_key() if task.recurrence else None
        task.series_anchor = _anchor_text(due, task.timezone) if task.recurrence else None

    def _write_reminders(
        self, uow: UnitOfWork, task: Task, specs: list[ReminderSpec], *, now: datetime
    ) -> list[Reminder]:
        rows = self._reminder_rows(task, specs, now=now)
        uow.reminders.add_all(rows)
        return rows

    @staticmethod
    def _reminder_rows(task: Task, specs: list[ReminderSpec], *, now: datetime) -> list[Reminder]:
        """The reminder rows of `task` for `specs` (not yet added to a session)."""
        rows: list[Reminder] = []
        due = _due_of(task)
        tz = zone(task.timezone)
        for position, spec in enumerate(specs):
            fire_at = spec.fire_at(due, tz)
            row = Reminder(
                id=str(uuid.uuid4()),
                task_id=task.id,
                user_id=task.user_id,
                kind="before" if spec.before is not None else "at",
                offset_s=int(spec.before.total_seconds()) if spec.before is not None else None,
                at=spec.at.astimezone(UTC) if spec.at is not None else None,
                position=position,
                fire_at=fire_at,
                state="pending" if fire_at > now and not task.completed else "cancelled",
                fired_at=None,
            )
            rows.append(row)
        return rows

    async def _recompute(
        self, uow: UnitOfWork, task: Task, rows: list[Reminder], *, now: datetime
    ) -> list[Reminder]:
        """New due time: relative reminders move with it, a stale snooze is dropped."""
        due, tz = _due_of(task), zone(task.timezone)
        kept: list[Reminder] = []
        for row in rows:
            if row.kind == "snooze":
                await uow.session.delete(row)
                continue
            if row.kind == "before":
                row.fire_at = _spec_of(row).fire_at(due, tz)
                row.state = "pending" if row.fire_at > now and not task.completed else "cancelled"
            kept.append(row)
        return kept

    def _emit(
        self,
        uow: UnitOfWork,
        kind: TaskEventType,
        view: TaskView,
        *,
        now: datetime,
        changes: dict[str, Any] | None = None,
        actor: str = "user",
    ) -> None:
        """Append the task event to task-events and task-updates (the same CloudEvent on both)."""
        event = self._event(kind, view, now=now, changes=changes, actor=actor)
        uow.outbox.append(event, topics.TASK_EVENTS, topics.TASK_UPDATES)

    @staticmethod
    def _event(
        kind: TaskEventType,
        view: TaskView,
        *,
        now: datetime,
        changes: dict[str, Any] | None = None,
        actor: str = "user",
    ) -> CloudEvent:
        data = TaskEventData(
            event_type=kind,
            task_id=view.id,
            user_id=view.user_id,
            timestamp=now,
            task_data=view,
            changes=changes or {},
            actor=actor,
        )
        event = make_event(
            TASK_EVENT_TYPES[kind],
            subject=view.id,
            partitionkey=view.user_id,
            data=data.model_dump(mode="json"),
            time=now,
        )
        return event


def _check_version(task: Task, if_match: int | None) -> None:
    if if_match is not None and if_match != task.version:
        raise PreconditionFailed(
            f"task is at version {task.version}, not {if_match}; reload it and try again", field="If-Match"
        )


def _due_of(task: Task) -> Due:
    return Due(at=task.due_at, on=task.due_date)


def _due_of_view(view: TaskView) -> Due:
    return Due(at=view.due_at, on=view.due_date)


def _spec_of(row: Reminder) -> ReminderSpec:
    if row.kind == "before" and row.offset_s is not None:
        return ReminderSpec(before=timedelta(seconds=row.offset_s))
    return ReminderSpec(at=row.at)


def _anchor_text(due: Due, tz_name: str) -> str | None:
    if due.at is not None:
        return due.at.astimezone(zone(tz_name)).isoformat()
    return due.on.isoformat() if due.on is not None else None


def parse_anchor(text: str) -> datetime | date:
    """The stored series anchor: an aware local datetime or a date."""
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


def _shift(old: Due, new: Due, tz: Any) -> timedelta:
    old_at, new_at = old.sort_key(tz), new.sort_key(tz)
    return new_at - old_at if old_at is not None and new_at is not None else timedelta(0)


_DURATION = TypeAdapter(timedelta)


def _shifted(reminder: ReminderView, shift: timedelta) -> ReminderSpec:
    """The same reminder for an occurrence `shift` later: relative ones as they are, absolute ones moved."""
    if reminder.before is not None:
        return ReminderSpec(before=_DURATION.validate_python(reminder.before))
    assert reminder.at is not None
    return ReminderSpec(at=reminder.at + shift)


def _diff(before: TaskView, after: TaskView) -> dict[str, Any]:
    skip = {"version", "updated_at", "reminders"}
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    changes = {k: {"old": old[k], "new": new[k]} for k in new if k not in skip and old.get(k) != new[k]}
    old_r = [(r["before"], r["at"], r["fire_at"]) for r in old["reminders"]]
    new_r = [(r["before"], r["at"], r["fire_at"]) for r in new["reminders"]]
    if old_r != new_r:
        changes["reminders"] = {"old": old["reminders"], "new": new["reminders"]}
    return changes
