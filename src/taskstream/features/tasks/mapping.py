"""The task entity to table rows and back (tasks, task_tags, reminders)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Row

from taskstream.domain.durations import Offset
from taskstream.domain.task import ReminderKind, ReminderState, Task, TaskReminder
from taskstream.domain.tasks import Due, Priority, zone
from taskstream.store.tables import Base, Reminder, TaskTag
from taskstream.store.tables import Task as TaskRow
from taskstream.tracing import current_traceparent


def to_entity(row: TaskRow | Row[Any], tags: Sequence[str], reminders: Sequence[Reminder | Row[Any]]) -> Task:
    """The entity of a stored task with its tags (in name order) and reminder rows (in position order):
    ORM objects or Core rows of the same tables."""
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


def new_rows(task: Task) -> list[Base]:
    """The rows of a new task: the task, its tags, its reminders (in that order for one flush)."""
    row = TaskRow(id=task.id)
    copy_to_row(task, row)
    tags: list[Base] = [TaskTag(task_id=task.id, tag=tag, user_id=task.user_id) for tag in task.tags]
    return [row, *tags, *(reminder_row(task, r) for r in task.reminders)]


def copy_to_row(task: Task, row: TaskRow) -> None:
    """Set every column of `row` from `task` (SQLAlchemy writes only the ones that differ)."""
    row.user_id = task.user_id
    row.series_id = task.series_id
    row.occurrence_key = task.occurrence_key
    row.title = task.title
    row.description = task.description
    row.priority = int(task.priority)
    row.due_at, row.due_date = task.due.at, task.due.on
    row.due_sort = task.due.sort_key(zone(task.timezone))
    row.timezone = task.timezone
    row.recurrence = task.recurrence
    row.repeat_from = task.repeat_from
    row.keep_missed = task.keep_missed
    row.series_anchor = anchor_text(task.series_anchor)
    row.completed = task.completed
    row.completed_at = task.completed_at
    row.created_at = task.created_at
    row.updated_at = task.updated_at
    row.version = task.version
    row.estimate_minutes = task.estimate_minutes


def reminder_row(task: Task, reminder: TaskReminder) -> Reminder:
    """A new reminders row for one reminder of `task`."""
    row = Reminder(id=reminder.id, task_id=task.id, user_id=task.user_id)
    copy_reminder(reminder, row)
    return row


def copy_reminder(reminder: TaskReminder, row: Reminder, *, schedule_only: bool = False) -> None:
    """Set the columns of a reminders row from the entity's reminder; with schedule_only, leave the state and
    fired_at to the caller (the scheduler writes them too)."""
    row.kind = reminder.kind
    row.duration = reminder.before.iso if reminder.before is not None else None
    row.at = reminder.at
    row.position = reminder.position
    if row.fire_at != reminder.fire_at:  # scheduled anew: its firing's trace links to this one
        row.traceparent = current_traceparent()
    row.fire_at = reminder.fire_at
    if not schedule_only:
        row.state = reminder.state
        row.fired_at = reminder.fired_at


def anchor_text(anchor: datetime | date | None) -> str | None:
    """The stored form of a series anchor: ISO 8601 local time with its offset, or an ISO date."""
    return anchor.isoformat() if anchor is not None else None


def parse_anchor(text: str) -> datetime | date:
    """The series anchor stored as text: an aware local datetime or a date."""
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


def _reminder(row: Reminder | Row[Any]) -> TaskReminder:
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
