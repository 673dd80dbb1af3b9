"""Quick-add parsing: dates in the user's zone, recurrence phrases, priority, tags, reminders, leftovers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from taskstream.domain.errors import ValidationError
from taskstream.domain.nlparse import ParsedTask, parse_quick_add

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 6, 10, 15, 0, tzinfo=BERLIN)  # a Tuesday afternoon


def parse(text: str, *, now: datetime = NOW, tz: str = "Europe/Berlin") -> ParsedTask:
    return parse_quick_add(text, now=now, tz=tz)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_pay_rent_example() -> None:
    task = parse("Pay rent every month on the 1st 9am !high #bills remind 1d before")
    assert task == ParsedTask(
        title="Pay rent",
        due_at=utc(2025, 7, 1, 7),  # 1 July 09:00 in Berlin
        due_date=None,
        recurrence="FREQ=MONTHLY;BYMONTHDAY=1",
        repeat_from="due",
        priority="high",
        tags=["bills"],
        reminders=[{"before": "P1D"}],
        unparsed=[],
    )


def test_water_plants_example() -> None:
    task = parse("Water plants tomorrow 9am every 2 days remind 10m before")
    assert (task.title, task.due_at, task.due_date) == ("Water plants", utc(2025, 6, 11, 7), None)
    assert task.recurrence == "FREQ=DAILY;INTERVAL=2"
    assert task.reminders == [{"before": "PT10M"}]


@pytest.mark.parametrize(
    ("text", "due_at", "due_date"),
    [
        ("Dentist tomorrow 9am", utc(2025, 6, 11, 7), None),
        ("Dentist tomorrow at 9:30 pm", utc(2025, 6, 11, 19, 30), None),
        ("Report next friday", None, date(2025, 6, 13)),
        ("Report due friday", None, date(2025, 6, 13)),
        ("Report on fri", None, date(2025, 6, 13)),
        ("Report this friday", None, date(2025, 6, 13)),
        ("Dentist in 3 days", None, date(2025, 6, 13)),
        ("Dentist in two weeks", None, date(2025, 6, 24)),
        ("Tax return 15 june", None, date(2025, 6, 15)),
        ("Tax return june 15th", None, date(2025, 6, 15)),
        ("Tax return 10 june", None, date(2025, 6, 10)),
        ("Tax return 9 june", None, date(2026, 6, 9)),
        ("Ship 2025-07-01 at 17:00", utc(2025, 7, 1, 15), None),
        ("Call Anna 5pm", utc(2025, 6, 10, 15), None),
        ("Call Anna 9am", utc(2025, 6, 11, 7), None),
        ("Call Anna at noon", utc(2025, 6, 11, 10), None),
        ("Call Anna in 2 hours", utc(2025, 6, 10, 15), None),
        ("Call mom friday", None, date(2025, 6, 13)),
    ],
)
def test_date_phrases(text: str, due_at: datetime | None, due_date: date | None) -> None:
    task = parse(text)
    assert (task.due_at, task.due_date) == (due_at, due_date)
    assert task.unparsed == []


@pytest.mark.parametrize(
    "text", ["Buy milk", "Call mom", "March report", "Friday drinks", "Weekly report", "Sun cream"]
)
def test_ordinary_title_words_are_not_dates(text: str) -> None:
    task = parse(text)
    assert task == ParsedTask(
        title=text,
        due_at=None,
        due_date=None,
        recurrence=None,
        repeat_from="due",
        priority=None,
        tags=[],
        reminders=[],
        unparsed=[],
    )


@pytest.mark.parametrize(
    ("text", "rrule", "due_date"),
    [
        ("Vitamins every day", "FREQ=DAILY", date(2025, 6, 10)),
        ("Vitamins daily", "FREQ=DAILY", date(2025, 6, 10)),
        ("Standup every weekday", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", date(2025, 6, 10)),
        (
            "Sync every 2 weeks on monday and thursday",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
            date(2025, 6, 12),
        ),
        ("Run every mon, wed and fri", "FREQ=WEEKLY;BYDAY=MO,WE,FR", date(2025, 6, 11)),
        ("Clean every other week", "FREQ=WEEKLY;INTERVAL=2", date(2025, 6, 10)),
        ("Bookclub every 2nd tuesday", "FREQ=MONTHLY;BYDAY=2TU", date(2025, 6, 10)),
        ("Payroll last friday of the month", "FREQ=MONTHLY;BYDAY=-1FR", date(2025, 6, 27)),
        ("Invoice every month on the 31st", "FREQ=MONTHLY;BYMONTHDAY=31", date(2025, 7, 31)),
        ("Bills on the 1st of every month", "FREQ=MONTHLY;BYMONTHDAY=1", date(2025, 7, 1)),
        ("Accounts every month on the last day", "FREQ=MONTHLY;BYMONTHDAY=-1", date(2025, 6, 30)),
        ("Birthday every 25 december", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25", date(2025, 12, 25)),
        ("Gym every day until 30 june", "FREQ=DAILY;UNTIL=20250630", date(2025, 6, 10)),
        ("Review every year", "FREQ=YEARLY", date(2025, 6, 10)),
    ],
)
def test_recurrence_phrases(text: str, rrule: str, due_date: date) -> None:
    task = parse(text)
    assert (task.title, task.recurrence, task.due_date, task.due_at) == (
        text.split(" ")[0],
        rrule,
        due_date,
        None,
    )
    assert task.unparsed == []


def test_every_3_months_from_completion() -> None:
    task = parse("Haircut every 3 months from completion")
    assert (task.title, task.recurrence, task.repeat_from) == (
        "Haircut",
        "FREQ=MONTHLY;INTERVAL=3",
        "completion",
    )
    assert task.due_date == date(2025, 6, 10)


def test_recurring_with_time_and_no_date_starts_at_the_first_future_occurrence() -> None:
    task = parse("Standup every weekday 9:30")
    assert (task.due_at, task.due_date) == (utc(2025, 6, 11, 7, 30), None)  # today's 09:30 has passed


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("a !low", "low"),
        ("a !medium", "medium"),
        ("a !high", "high"),
        ("a !urgent", "urgent"),
        ("a !URGENT", "urgent"),
        ("a !1", "urgent"),
        ("a !2", "high"),
        ("a !3", "medium"),
        ("a !4", "low"),
    ],
)
def test_priorities(text: str, priority: str) -> None:
    task = parse(text)
    assert (task.title, task.priority) == ("a", priority)


def test_unknown_priority_and_second_priority_are_reported() -> None:
    assert (parse("Task !foo").title, parse("Task !foo").unparsed) == ("Task !foo", ["!foo"])
    task = parse("Task !high !low")
    assert (task.title, task.priority, task.unparsed) == ("Task", "high", ["!low"])


def test_tags_need_a_letter_and_are_deduplicated() -> None:
    task = parse("Fix bug #123 #Work #work #home-office")
    assert (task.title, task.tags) == ("Fix bug #123", ["Work", "home-office"])


@pytest.mark.parametrize(
    ("text", "reminders"),
    [
        ("a tomorrow 9am remind 15m before", [{"before": "PT15M"}]),
        ("a tomorrow 9am remind 1h before", [{"before": "PT1H"}]),
        ("a tomorrow 9am remind 1d before", [{"before": "P1D"}]),
        ("a tomorrow 9am remind me 2 weeks before", [{"before": "P2W"}]),
        ("a tomorrow 9am remind me at 8am", [{"at": "2025-06-11T06:00:00Z"}]),
        ("a remind me at 8am", [{"at": "2025-06-11T06:00:00Z"}]),
        (
            "a friday remind me at 18:00 remind 30 minutes before",
            [{"before": "PT30M"}, {"at": "2025-06-13T16:00:00Z"}],
        ),
    ],
)
def test_reminders(text: str, reminders: list[dict[str, str]]) -> None:
    task = parse(text)
    assert (task.title, task.reminders, task.unparsed) == ("a", reminders, [])


def test_dates_are_read_in_the_users_zone() -> None:
    late_utc = utc(2025, 6, 10, 23, 30)  # already 11 June 11:30 in Auckland
    task = parse("Call tomorrow 9am", now=late_utc, tz="Pacific/Auckland")
    assert task.due_at == utc(2025, 6, 11, 21)  # 12 June 09:00 NZST


def test_time_in_a_dst_gap_moves_forward() -> None:
    now = datetime(2025, 3, 8, 12, tzinfo=ZoneInfo("America/New_York"))
    assert parse("Backup tomorrow 2:30am", now=now, tz="America/New_York").due_at == utc(2025, 3, 9, 7, 30)


def test_not_understood_fragments_stay_in_the_title_and_are_reported() -> None:
    task = parse("Plan every 0 days")
    assert (task.title, task.recurrence, task.unparsed) == ("Plan every 0 days", None, ["every 0 days"])
    task = parse("remind me sometime to call")
    assert task.unparsed == ["remind me sometime to"]
    assert parse("Stop from completion").unparsed == ["from completion"]
    task = parse("Gym until 30 june")
    assert (task.title, task.due_date, task.unparsed) == ("Gym until 30 june", None, ["until 30 june"])


def test_a_second_date_is_reported_not_guessed() -> None:
    task = parse("Dinner tomorrow next friday")
    assert (task.due_date, task.unparsed, task.title) == (
        date(2025, 6, 11),
        ["next friday"],
        "Dinner next friday",
    )


def test_title_never_keeps_recognized_tokens() -> None:
    task = parse("Pay rent every month on the 1st 9am !high #bills remind 1d before")
    for token in ("every", "1st", "9am", "!high", "#bills", "remind"):
        assert token not in task.title


def test_bad_input_raises() -> None:
    with pytest.raises(ValidationError):
        parse_quick_add("a", now=datetime(2025, 1, 1), tz="UTC")
    with pytest.raises(ValidationError):
        parse_quick_add("a", now=NOW, tz="Nowhere/Land")
    with pytest.raises(ValidationError):
        parse_quick_add("a" * 1001, now=NOW, tz="UTC")


def test_interval_weeks_start_at_the_next_matching_day() -> None:
    """Said on a Sunday, "every 2 weeks on monday and thursday" starts the next day, not a week later."""
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    parsed = parse_quick_add("Gym every 2 weeks on monday and thursday", now=sunday, tz="UTC")
    assert parsed.recurrence == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"
    assert parsed.due_date == date(2026, 11, 30)


def test_relative_reminder_without_a_date_is_reported() -> None:
    parsed = parse_quick_add(
        "Buy milk remind 15m before", now=datetime(2026, 11, 29, 12, tzinfo=UTC), tz="UTC"
    )
    assert (parsed.title, parsed.reminders) == ("Buy milk", [])
    assert parsed.unparsed == ["remind 15m before (needs a due date)"]  # in the words typed
