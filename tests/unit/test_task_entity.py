"""The task entity's rules, without a database: each change returns the event it caused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import get_args

import pytest

from taskstream.domain.durations import Offset
from taskstream.domain.errors import ValidationError
from taskstream.domain.task import Task, TaskChanges
from taskstream.domain.tasks import Due, Priority, PriorityLabel, ReminderSpec

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def new(**given: object) -> Task:
    return Task.create("u1", TaskChanges(**given), default_tz="Europe/Berlin", now=NOW).task  # type: ignore[arg-type]


def test_priority_labels_are_the_enums() -> None:
    assert get_args(PriorityLabel) == tuple(p.label for p in Priority)


def test_create_applies_defaults_and_cleans() -> None:
    task = new(title="  Pay rent  ", tags=["#Bills", "bills"], priority="high", estimate_minutes=30)
    assert (task.title, task.tags, task.priority, task.timezone) == (
        "Pay rent",
        ["bills"],
        Priority.HIGH,
        "Europe/Berlin",
    )
    assert (task.version, task.series_id, task.estimate_minutes) == (1, task.id, 30)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "title"),
        ({"title": "x", "estimate_minutes": 0}, "estimate_minutes"),
        ({"title": "x", "estimate_minutes": 1441}, "estimate_minutes"),
        ({"title": "x", "timezone": "CET"}, "timezone"),
        ({"title": "x", "recurrence": "FREQ=DAILY"}, "recurrence"),
        ({"title": "x", "reminders": [ReminderSpec(before=Offset(seconds=300))]}, "reminders.0.before"),
    ],
)
def test_create_names_the_bad_field(given: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        new(**given)
    assert error.value.field == field


def test_a_change_that_changes_nothing_is_no_event_and_keeps_the_version() -> None:
    task = new(title="Same", estimate_minutes=15)
    assert task.change(TaskChanges(title="Same", estimate_minutes=15), now=NOW) is None
    assert task.version == 1
    event = task.change(TaskChanges(estimate_minutes=None), now=NOW + timedelta(minutes=1))
    assert event is not None and event.changed == ("estimate_minutes",)
    assert event.before is not None and event.before.estimate_minutes == 15
    assert (task.version, task.updated_at) == (2, NOW + timedelta(minutes=1))


def test_moving_the_due_moves_relative_reminders_and_drops_a_snooze() -> None:
    due = datetime(2026, 3, 3, 9, tzinfo=UTC)
    task = new(title="Call", due_at=due, reminders=[ReminderSpec(before=Offset(seconds=900))])
    assert task.reminders[0].fire_at == due - timedelta(minutes=15)
    event = task.change(TaskChanges(due_at=due + timedelta(hours=2)), now=NOW)
    assert event is not None and set(event.changed) == {
        "due"
    }  # the reminder as set (15 min before) is the same
    assert task.reminders[0].fire_at == due + timedelta(hours=2, minutes=-15)


def test_complete_cancels_pending_reminders_and_reopen_restores_those_ahead() -> None:
    task = new(
        title="Call",
        due_at=datetime(2026, 3, 3, 9, tzinfo=UTC),
        reminders=[ReminderSpec(before=Offset())],
    )
    event = task.complete(now=NOW)
    assert event is not None and event.kind == "completed" and task.reminders[0].state == "cancelled"
    assert task.complete(now=NOW) is None  # idempotent
    assert task.reopen(now=NOW) is not None and task.reminders[0].state == "pending"


def test_next_occurrence_keeps_the_series_and_shifts_absolute_reminders() -> None:
    at = datetime(2026, 3, 2, 6, tzinfo=UTC)
    task = new(title="Standup", due_date=date(2026, 3, 2), recurrence="FREQ=DAILY", estimate_minutes=10,
               reminders=[ReminderSpec(at=at)])  # fmt: skip
    task.complete(now=NOW)
    event = task.next_occurrence(now=NOW)
    assert event is not None and event.actor == "recurring"
    nxt = event.task
    assert (nxt.due, nxt.series_id, nxt.occurrence_key) == (
        Due(on=date(2026, 3, 3)),
        task.series_id,
        "2026-03-03",
    )
    assert (nxt.completed, nxt.version, nxt.estimate_minutes, nxt.id != task.id) == (False, 1, 10, True)
    assert nxt.reminders[0].at == at + timedelta(days=1)
    assert new(title="Once").next_occurrence(now=NOW) is None
