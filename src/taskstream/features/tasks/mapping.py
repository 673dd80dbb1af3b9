"""The task entity to table rows and back (tasks, task_tags, reminders)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from taskstream.domain.durations import Offset
from taskstream.domain.task import ReminderKind, ReminderState, Task, TaskReminder
from taskstream.domain.tasks import Due, Priority, zone
from taskstream.store.rows import NewRows
from taskstream.store.tables import Base
from taskstream.tracing import current_traceparent

TASKS = Base.metadata.tables["tasks"]
TASK_TAGS = Base.metadata.tables["task_tags"]
REMINDERS = Base.metadata.tables["reminders"]


def to_entity(row: Any, tags: Sequence[str], reminders: Sequence[Any]) -> Task:
    """The entity of a stored task with its tags (in name order) and reminder rows (in position order):
    any rows with the columns as attributes (ORM objects, Core rows, records of store/raw.py)."""
    return Task(
        id=row.id,
        user_id=row.user_id,
        series_id=row.series_id,
        title=row.title,
        timezone=row.timezone,
        created_at=row.created_at,
        updated_at=row.updated_at,
        description=row.description,
        priority=Priority(row.priority),
        due=Due(at=row.due_at, on=row.due_date),
        recurrence=row.recurrence,
        repeat_from=row.repeat_from,
        keep_missed=row.keep_missed,
        occurrence_key=row.occurrence_key,
        series_anchor=parse_anchor(row.series_anchor) if row.series_anchor else None,
        completed=row.completed,
        completed_at=row.completed_at,
        version=row.version,
        tags=list(tags),
        reminders=[_reminder(r) for r in reminders],
        estimate_minutes=row.estimate_minutes,
    )


def new_rows(task: Task) -> NewRows:
    """The rows of a new task as column values: its tasks row, tags and reminders (tables in that order)."""
    return {
        TASKS: [{"id": task.id, **task_values(task)}],
        TASK_TAGS: [{"task_id": task.id, "tag": tag, "user_id": task.user_id} for tag in task.tags],
        REMINDERS: [new_reminder_values(task, r) for r in task.reminders],
    }


def task_values(task: Task) -> dict[str, Any]:
    """Every column of the task's tasks row but its id, from the entity."""
    return {
        "user_id": task.user_id,
        "series_id": task.series_id,
        "occurrence_key": task.occurrence_key,
        "title": task.title,
        "description": task.description,
        "priority": int(task.priority),
        "due_at": task.due.at,
        "due_date": task.due.on,
        "due_sort": task.due.sort_key(zone(task.timezone)),
        "timezone": task.timezone,
        "recurrence": task.recurrence,
        "repeat_from": task.repeat_from,
        "keep_missed": task.keep_missed,
        "series_anchor": anchor_text(task.series_anchor),
        "completed": task.completed,
        "completed_at": task.completed_at,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "version": task.version,
        "estimate_minutes": task.estimate_minutes,
    }


def new_reminder_values(task: Task, reminder: TaskReminder) -> dict[str, Any]:
    """Every column of a new reminders row for one reminder of `task` (its firing's trace links to this
    one)."""
    return {
        "id": reminder.id,
        "task_id": task.id,
        "user_id": task.user_id,
        **schedule_values(reminder),
        "state": reminder.state,
        "fired_at": reminder.fired_at,
        "traceparent": current_traceparent(),
    }


def schedule_values(reminder: TaskReminder) -> dict[str, Any]:
    """The columns of a reminders row that say when it fires (state and fired_at aside: the scheduler
    writes them too)."""
    return {
        "kind": reminder.kind,
        "duration": reminder.before.iso if reminder.before is not None else None,
        "at": reminder.at,
        "position": reminder.position,
        "fire_at": reminder.fire_at,
    }


def anchor_text(anchor: datetime | date | None) -> str | None:
    """The stored form of a series anchor: ISO 8601 local time with its offset, or an ISO date."""
    return anchor.isoformat() if anchor is not None else None


def parse_anchor(text: str) -> datetime | date:
    """The series anchor stored as text: an aware local datetime or a date."""
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


def _reminder(row: Any) -> TaskReminder:
    before = Offset.parse(row.duration) if row.kind == "before" and row.duration is not None else None
    return TaskReminder(
        id=row.id,
        kind=cast(ReminderKind, row.kind),
        before=before,
        at=row.at if row.kind != "before" else None,
        position=row.position,
        fire_at=row.fire_at,
        state=cast(ReminderState, row.state),
        fired_at=row.fired_at,
    )
