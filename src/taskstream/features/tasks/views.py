"""The shapes built from the task entity: the API's TaskOut, the events' TaskView and their CloudEvent, and
the entity back from an event (for the recurring consumer); and TaskOut's JSON fields straight from stored
rows, for reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter

from taskstream.domain.durations import Offset
from taskstream.domain.task import Task, TaskEvent, TaskReminder
from taskstream.domain.tasks import Due, Priority
from taskstream.events.envelope import CloudEvent, make_event
from taskstream.events.payloads import (
    TASK_EVENT_TYPES,
    PriorityLabel,
    ReminderView,
    RepeatFrom,
    TaskEventData,
    TaskView,
)
from taskstream.features.tasks.mapping import anchor_text, parse_anchor
from taskstream.features.tasks.schemas import ReminderOut, TaskOut

_DURATION = TypeAdapter(timedelta)
_LABELS = {int(p): p.label for p in Priority}


def _fields(task: Task) -> dict[str, Any]:
    """The public fields shared by TaskOut and TaskView (reminders apart)."""
    return {
        "id": task.id,
        "user_id": task.user_id,
        "title": task.title,
        "description": task.description,
        "priority": cast(PriorityLabel, task.priority.label),
        "tags": list(task.tags),
        "due_at": task.due.at,
        "due_date": task.due.on,
        "timezone": task.timezone,
        "recurrence": task.recurrence,
        "repeat_from": cast(RepeatFrom, task.repeat_from),
        "keep_missed": task.keep_missed,
        "series_id": task.series_id,
        "completed": task.completed,
        "completed_at": task.completed_at,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "version": task.version,
        "estimate_minutes": task.estimate_minutes,
    }


def _shown(task: Task) -> list[TaskReminder]:
    return [r for r in task.reminders if r.kind != "snooze"]


def _reminder_fields(reminder: TaskReminder) -> dict[str, Any]:
    before = reminder.before.iso if reminder.before is not None else None
    return {"id": reminder.id, "before": before, "at": reminder.at, "fire_at": reminder.fire_at,
            "state": reminder.state}  # fmt: skip


def task_out(task: Task) -> TaskOut:
    """The API's shape of a task (snoozes are not shown). Built without validation (model_construct): the
    entity checked every field, and validating a 50-task page again cost about 1 ms (benchmark 3)."""
    reminders = [
        ReminderOut.model_construct(**_reminder_fields(r)) for r in task.reminders if r.kind != "snooze"
    ]
    return TaskOut.model_construct(**_fields(task), reminders=reminders)


def task_json(row: Any, tags: list[str], reminders: Sequence[Any]) -> dict[str, Any]:
    """TaskOut's fields, in its order, from a task's rows (tasks, and reminders in position order; rows with
    the columns as attributes): what task_out(to_entity(...)) shows, built without either (on a page of 50,
    building the entity and the model was a third of the server's time). Values are the rows' (UTC
    datetimes, dates): encoded as TaskOut's."""
    return {
        "id": row.id,
        "user_id": row.user_id,
        "title": row.title,
        "description": row.description,
        "priority": _LABELS[row.priority],
        "tags": tags,
        "due_at": row.due_at,
        "due_date": row.due_date,
        "timezone": row.timezone,
        "recurrence": row.recurrence,
        "repeat_from": row.repeat_from,
        "keep_missed": row.keep_missed,
        "series_id": row.series_id,
        "completed": row.completed,
        "completed_at": row.completed_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
        "reminders": [_reminder_json(r) for r in reminders if r.kind != "snooze"],
        "estimate_minutes": row.estimate_minutes,
    }


def _reminder_json(r: Any) -> dict[str, Any]:
    before = r.kind == "before"
    return {"id": r.id, "before": r.duration if before else None, "at": None if before else r.at,
            "fire_at": r.fire_at, "state": r.state}  # fmt: skip


def task_payload(task: Task) -> TaskView:
    """`task_data` of the task's events (docs/events.md), with the series anchor consumers need."""
    reminders = [
        ReminderView.model_construct(**_reminder_fields(r)) for r in task.reminders if r.kind != "snooze"
    ]
    return TaskView.model_construct(
        **_fields(task), reminders=reminders, series_anchor=anchor_text(task.series_anchor)
    )


def task_event(event: TaskEvent, *, now: datetime) -> CloudEvent:
    """The CloudEvent of a task change (partition key: the user), with old and new values of what changed."""
    view = task_payload(event.task)
    changes: dict[str, Any] = {}
    if event.before is not None and event.changed:
        old = task_payload(event.before).model_dump(mode="json")
        new = view.model_dump(mode="json")
        for name in event.changed:
            keys = [k for k in ("due_at", "due_date") if old[k] != new[k]] if name == "due" else [name]
            changes |= {key: {"old": old[key], "new": new[key]} for key in keys}
    data = TaskEventData(
        event_type=event.kind,
        task_id=event.task.id,
        user_id=event.task.user_id,
        timestamp=now,
        task_data=view,
        changes=changes,
        actor=event.actor,
    )
    return make_event(
        TASK_EVENT_TYPES[event.kind],
        subject=event.task.id,
        partitionkey=event.task.user_id,
        data=data.model_dump(mode="json"),
        time=now,
    )


def task_from_payload(view: TaskView) -> Task:
    """The entity a task event describes (for consumers; reminders without their ids' rows)."""
    anchor = parse_anchor(view.series_anchor) if view.series_anchor else None
    return Task(
        id=view.id,
        user_id=view.user_id,
        series_id=view.series_id,
        title=view.title,
        timezone=view.timezone,
        created_at=view.created_at,
        updated_at=view.updated_at,
        description=view.description,
        priority=Priority.parse(view.priority),
        due=Due(at=view.due_at.astimezone(UTC) if view.due_at else None, on=view.due_date),
        recurrence=view.recurrence,
        repeat_from=view.repeat_from,
        keep_missed=view.keep_missed,
        series_anchor=anchor,
        completed=view.completed,
        completed_at=view.completed_at,
        version=view.version,
        tags=list(view.tags),
        reminders=[_reminder_of(r, position) for position, r in enumerate(view.reminders)],
        estimate_minutes=view.estimate_minutes,
    )


def _reminder_of(view: ReminderView, position: int) -> TaskReminder:
    before = Offset.parse(view.before) if view.before is not None else None
    return TaskReminder(
        id=view.id,
        kind="before" if before is not None else "at",
        before=before,
        at=view.at if before is None else None,
        position=position,
        fire_at=view.fire_at,
        state=view.state,
    )
