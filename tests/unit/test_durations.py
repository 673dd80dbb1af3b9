"""Reminder durations keep their RFC 5545 meaning (§3.3.6): days and weeks are nominal, on the wall clock of
the task's zone; hours, minutes and seconds exact. Berlin's summer time starts on 28 March 2027 at 02:00."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from taskstream.domain.durations import Offset
from taskstream.domain.errors import ValidationError
from taskstream.domain.task import Task, TaskChanges
from taskstream.domain.tasks import Due, ReminderSpec

BERLIN = ZoneInfo("Europe/Berlin")
DST_DAY_9AM = datetime(2027, 3, 28, 9, tzinfo=BERLIN)  # 07:00 UTC (CEST)


@pytest.mark.parametrize(
    ("text", "kept"),
    [("P1D", "P1D"), ("PT24H", "PT24H"), ("P1W", "P1W"), ("P7D", "P7D"), ("PT168H", "PT168H"),
     ("p1dt2h", "P1DT2H"), ("PT90M", "PT1H30M"), ("PT0S", "PT0S"), ("P0D", "PT0S")],
)  # fmt: skip
def test_a_duration_is_given_back_as_it_was_written(text: str, kept: str) -> None:
    assert Offset.parse(text).iso == kept


@pytest.mark.parametrize("text", ["P1M", "P1Y", "-P1D", "PT1.5H", "P", "PT", "P1DT", "1D", "", "P1H", "PT1D"])
def test_what_is_no_rfc_5545_duration_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Offset.parse(text, field="reminders.0.before")
    assert refused.value.field == "reminders.0.before"


def _local(instant: datetime) -> str:
    return instant.astimezone(BERLIN).strftime("%d %H:%M %Z")


def test_a_day_before_is_the_same_wall_clock_time_a_day_earlier_and_24_hours_are_24_hours() -> None:
    due = Due(at=DST_DAY_9AM.astimezone(UTC))
    assert _local(ReminderSpec(before=Offset.parse("P1D")).fire_at(due, BERLIN)) == "27 09:00 CET"
    assert _local(ReminderSpec(before=Offset.parse("PT24H")).fire_at(due, BERLIN)) == "27 08:00 CET"
    assert _local(ReminderSpec(before=Offset.parse("P1DT1H")).fire_at(due, BERLIN)) == "27 08:00 CET"
    assert _local(ReminderSpec(before=Offset.parse("P1W")).fire_at(due, BERLIN)) == "21 09:00 CET"
    # 02:30 on the 28th does not exist: a day after 02:30 on the 27th is read with the offset before the gap.
    night = Due(at=datetime(2027, 3, 29, 2, 30, tzinfo=BERLIN).astimezone(UTC))
    assert _local(ReminderSpec(before=Offset.parse("P1D")).fire_at(night, BERLIN)) == "28 03:30 CEST"


def test_an_all_day_tasks_reminders_count_from_the_users_time_of_that_day() -> None:
    due = Due(on=date(2027, 3, 28))
    spec = ReminderSpec(before=Offset.parse("P1D"))
    assert _local(spec.fire_at(due, BERLIN)) == "27 09:00 CET"  # 09:00 unless the user chose another time
    assert _local(spec.fire_at(due, BERLIN, all_day_at=time(7, 30))) == "27 07:30 CET"
    assert (
        _local(ReminderSpec(before=Offset()).fire_at(due, BERLIN, all_day_at=time(7, 30))) == "28 07:30 CEST"
    )


def test_the_next_occurrence_keeps_each_reminders_wall_clock_meaning_across_a_dst_change() -> None:
    """Daily at 09:00 from 27 March: the 28th's due is 23 hours after the 27th's. The relative reminder
    (1 day before) and the absolute one (22:00 the evening before) keep their wall-clock times."""
    now = datetime(2027, 3, 26, 12, tzinfo=UTC)
    changes = TaskChanges(
        title="Stretch",
        due_at=datetime(2027, 3, 27, 9, tzinfo=BERLIN),
        timezone="Europe/Berlin",
        recurrence="FREQ=DAILY",
        reminders=[
            ReminderSpec(before=Offset.parse("P1D")),
            ReminderSpec(at=datetime(2027, 3, 26, 22, tzinfo=BERLIN)),
        ],
    )
    task = Task.create("u1", changes, default_tz="UTC", now=now).task
    task.complete(now=datetime(2027, 3, 27, 9, 5, tzinfo=BERLIN))
    following = task.next_occurrence(now=datetime(2027, 3, 27, 9, 5, tzinfo=BERLIN))
    assert following is not None
    assert _local(following.task.due.at) == "28 09:00 CEST"  # type: ignore[arg-type]
    fires = [_local(r.fire_at) for r in following.task.reminders]  # type: ignore[arg-type]
    assert fires == ["27 09:00 CET", "27 22:00 CET"]
    assert [r.before.iso if r.before else None for r in following.task.reminders] == ["P1D", None]
