"""Repeat from completion: the next due is the rule's first occurrence counted from the completion that is
strictly after the occurrence just completed, so completing early, on time or late never ends a series."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskstream.domain.recurrence import Moment, Series, localize, next_occurrence

TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)
DUE = date(2026, 12, 10)  # a Thursday
EARLY, ON_TIME, LATE = date(2026, 12, 9), DUE, date(2026, 12, 14)

# rule, completed on, next due (the date; timed series keep 09:00)
CASES = [
    ("FREQ=DAILY", EARLY, date(2026, 12, 11)),  # 9 + 1 day is the due just done: the day after it
    ("FREQ=DAILY", ON_TIME, date(2026, 12, 11)),
    ("FREQ=DAILY", LATE, date(2026, 12, 15)),
    ("FREQ=DAILY;INTERVAL=2", date(2026, 12, 8), date(2026, 12, 12)),  # 8 + 2 = 10 (done), 8 + 4
    ("FREQ=DAILY;INTERVAL=2", EARLY, date(2026, 12, 11)),
    ("FREQ=DAILY;INTERVAL=2", LATE, date(2026, 12, 16)),
    ("FREQ=WEEKLY", date(2026, 12, 3), date(2026, 12, 17)),  # 3 + 1 week = 10 (done), 3 + 2 weeks
    ("FREQ=WEEKLY", EARLY, date(2026, 12, 16)),
    ("FREQ=WEEKLY", ON_TIME, date(2026, 12, 17)),
    ("FREQ=WEEKLY", LATE, date(2026, 12, 21)),
    ("FREQ=WEEKLY;BYDAY=TH", EARLY, date(2026, 12, 17)),
    ("FREQ=WEEKLY;BYDAY=TH", LATE, date(2026, 12, 24)),
    ("FREQ=MONTHLY", date(2026, 11, 10), date(2027, 1, 10)),  # a month early: 10 Dec is done
    ("FREQ=MONTHLY", EARLY, date(2027, 1, 9)),
    ("FREQ=MONTHLY", ON_TIME, date(2027, 1, 10)),
    ("FREQ=MONTHLY", LATE, date(2027, 1, 14)),
    ("FREQ=MONTHLY;BYMONTHDAY=10", date(2026, 11, 2), date(2027, 1, 10)),
    ("FREQ=MONTHLY;BYMONTHDAY=10", LATE, date(2027, 2, 10)),
    ("FREQ=YEARLY", date(2025, 12, 10), date(2027, 12, 10)),  # a year early
]


def _due(day: date, timed: bool) -> Moment:
    return localize(datetime.combine(day, time(9)), ZONE) if timed else day


@pytest.mark.parametrize("timed", [True, False], ids=["timed", "all-day"])
@pytest.mark.parametrize(("rule", "done_on", "expected"), CASES, ids=[f"{c[0]} done {c[1]}" for c in CASES])
def test_the_next_due_is_strictly_after_the_one_completed(
    rule: str, done_on: date, expected: date, timed: bool
) -> None:
    series = Series(rule, _due(DUE, timed), TZ, repeat_from="completion")
    completed = localize(datetime.combine(done_on, time(18, 30)), ZONE)
    found = next_occurrence(series, current=_due(DUE, timed), completed_at=completed, now=completed)
    assert found == _due(expected, timed)


def test_only_until_ends_a_series_repeated_from_completion() -> None:
    series = Series("FREQ=DAILY;UNTIL=20261211", DUE, TZ, repeat_from="completion")
    done = localize(datetime(2026, 12, 9, 12), ZONE)
    assert next_occurrence(series, current=DUE, completed_at=done, now=done) == date(2026, 12, 11)
    later = done + timedelta(days=2)
    assert next_occurrence(series, current=date(2026, 12, 11), completed_at=later, now=later) is None


def test_completing_years_early_finds_the_next_due_quickly() -> None:
    far = date(2040, 6, 1)
    series = Series("FREQ=DAILY", far, TZ, repeat_from="completion")
    done = localize(datetime(2026, 12, 3, 12), ZONE)
    assert next_occurrence(series, current=far, completed_at=done, now=done) == date(2040, 6, 2)
