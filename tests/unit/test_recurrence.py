"""Recurrence: RRULE validation, expansion in wall-clock time, DST, clamping, completion and series ends."""

from __future__ import annotations

import time as perf
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from taskstream.domain.errors import ValidationError
from taskstream.domain.recurrence import (
    Moment,
    Series,
    describe,
    first_occurrence,
    next_occurrence,
    normalize_rrule,
    occurrences,
)

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
AUCKLAND = ZoneInfo("Pacific/Auckland")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def complete_on_time(series: Series, times: int) -> list[Moment]:
    """Complete each occurrence at its due instant (all-day: noon UTC that day); collect the next dues."""
    current: Moment = series.anchor
    seen: list[Moment] = []
    for _ in range(times):
        at = current if isinstance(current, datetime) else datetime(*current.timetuple()[:3], 12, tzinfo=UTC)
        following = next_occurrence(series, current=current, completed_at=at, now=at)
        if following is None:
            break
        seen.append(following)
        current = following
    return seen


# --- normalize_rrule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("rrule:freq=weekly;byday=we,mo", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("  RRULE:FREQ=DAILY;INTERVAL=1;  ", "FREQ=DAILY"),
        ("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=MONTHLY;BYDAY=2TU"),
        ("FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2", "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1,15,1,15", "FREQ=MONTHLY;BYMONTHDAY=1,15,-1"),
        (
            "FREQ=YEARLY;BYMONTH=11;BYDAY=1TU;BYMONTHDAY=2,3,4,5,6,7,8",
            "FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=2,3,4,5,6,7,8;BYDAY=1TU",
        ),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
        ("FREQ=YEARLY;BYYEARDAY=1,100,-1", "FREQ=YEARLY;BYYEARDAY=1,100,-1"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"),
        ("FREQ=WEEKLY;COUNT=10;WKST=SU;INTERVAL=2", "FREQ=WEEKLY;INTERVAL=2;COUNT=10;WKST=SU"),
        ("FREQ=WEEKLY;WKST=MO", "FREQ=WEEKLY"),
        ("FREQ=DAILY;UNTIL=20260630", "FREQ=DAILY;UNTIL=20260630"),
        ("FREQ=DAILY;UNTIL=20260630T220000z", "FREQ=DAILY;UNTIL=20260630T220000Z"),
    ],
)
def test_normalize_rrule_gives_canonical_upper_case_form(value: str, canonical: str) -> None:
    assert normalize_rrule(value) == canonical
    assert normalize_rrule(canonical) == canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("INTERVAL=2", "FREQ is required"),
        ("FREQ=FORTNIGHTLY", "FREQ 'FORTNIGHTLY' is unknown"),
        ("FREQ=HOURLY", "FREQ=HOURLY is not supported"),
        ("FREQ=MINUTELY", "FREQ=MINUTELY is not supported"),
        ("FREQ=DAILY;FOO=1", "unknown rule part 'FOO'"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR is not supported"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1"),
        ("FREQ=DAILY;INTERVAL=x", "INTERVAL must be a whole number"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears twice"),
        ("FREQ=DAILY;BYDAY", "is not NAME=VALUE"),
        ("FREQ=MONTHLY;BYDAY=6TU", "BYDAY ordinal in '6TU' is out of range (1 to 5"),
        ("FREQ=YEARLY;BYDAY=54MO", "BYDAY ordinal in '54MO' is out of range (1 to 53"),
        ("FREQ=MONTHLY;BYDAY=0MO", "out of range"),
        ("FREQ=WEEKLY;BYDAY=2TU", "BYDAY ordinal in '2TU' needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=MONTHLY;BYDAY=XX", "BYDAY value 'XX' is not a weekday"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY value '32' is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY value '0' is out of range"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH value '13' is out of range"),
        ("FREQ=YEARLY;BYMONTH=-1", "BYMONTH value '-1' is out of range"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20260101", "COUNT and UNTIL cannot both be given"),
        ("FREQ=DAILY;UNTIL=20260101T000000", "must be in UTC"),
        ("FREQ=DAILY;UNTIL=20260231", "is not a real date"),
        ("FREQ=DAILY;UNTIL=2026-01-01", "must be a date (YYYYMMDD)"),
        ("DTSTART:20250101T090000Z\nRRULE:FREQ=DAILY", "DTSTART is not part of an RRULE value"),
        ("FREQ=DAILY;DTSTART=20250101", "DTSTART is not part of an RRULE value"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
        ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY can only be used with FREQ=YEARLY"),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO can only be used with FREQ=YEARLY"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs another BYxxx part"),
        ("FREQ=WEEKLY;WKST=XX", "WKST 'XX' is not a weekday"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never produces an occurrence"),
    ],
)
def test_normalize_rrule_says_exactly_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_rrule(value)
    assert caught.value.field == "recurrence"
    assert message in caught.value.message


def test_impossible_rule_is_rejected_quickly() -> None:
    started = perf.perf_counter()
    with pytest.raises(ValidationError):
        normalize_rrule("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31")
    assert perf.perf_counter() - started < 2.0


# --- the product cases ----------------------------------------------------------------------------


def test_monthly_from_jan_31_lands_on_each_months_last_day_and_returns_to_31() -> None:
    series = Series("FREQ=MONTHLY", datetime(2025, 1, 31, 9, tzinfo=LONDON), "Europe/London")
    dues = complete_on_time(series, 4)
    assert [d.astimezone(LONDON) for d in dues] == [  # type: ignore[union-attr]
        datetime(2025, 2, 28, 9, tzinfo=LONDON),
        datetime(2025, 3, 31, 9, tzinfo=LONDON),
        datetime(2025, 4, 30, 9, tzinfo=LONDON),
        datetime(2025, 5, 31, 9, tzinfo=LONDON),
    ]
    assert dues[1] == utc(2025, 3, 31, 8)  # BST began on 30 March: 09:00 local is 08:00 UTC


def test_berlin_weekly_tuesday_midnight_stays_tuesday_after_dst_ends() -> None:
    series = Series("FREQ=WEEKLY;BYDAY=TU", datetime(2016, 9, 6, 0, tzinfo=BERLIN), "Europe/Berlin")
    after = occurrences(series, after=datetime(2016, 10, 20, tzinfo=BERLIN), count=3)
    assert after == [utc(2016, 10, 24, 22), utc(2016, 10, 31, 23), utc(2016, 11, 7, 23)]
    assert {d.astimezone(BERLIN).strftime("%a %H:%M") for d in after} == {"Tue 00:00"}  # type: ignore[union-attr]


def test_auckland_daily_0700_completed_the_day_before_dst_starts() -> None:
    series = Series("FREQ=DAILY", datetime(2022, 9, 20, 7, tzinfo=AUCKLAND), "Pacific/Auckland")
    done = datetime(2022, 9, 24, 10, tzinfo=AUCKLAND)
    following = next_occurrence(
        series, current=datetime(2022, 9, 24, 7, tzinfo=AUCKLAND), completed_at=done, now=done
    )
    assert following == utc(2022, 9, 24, 18)
    assert following == datetime(2022, 9, 25, 7, tzinfo=AUCKLAND)


def test_lord_howe_keeps_0900_across_both_half_hour_shifts() -> None:
    series = Series("FREQ=DAILY", datetime(2025, 4, 5, 9, tzinfo=LORD_HOWE), "Australia/Lord_Howe")
    assert occurrences(series, count=2) == [utc(2025, 4, 4, 22), utc(2025, 4, 5, 22, 30)]
    spring = occurrences(series, after=datetime(2025, 10, 3, 12, tzinfo=LORD_HOWE), count=2)
    assert spring == [utc(2025, 10, 3, 22, 30), utc(2025, 10, 4, 22)]


def test_time_in_spring_forward_gap_moves_forward_by_the_gap() -> None:
    new_york = Series("FREQ=DAILY", datetime(2025, 3, 8, 2, 30, tzinfo=NEW_YORK), "America/New_York")
    assert occurrences(new_york, count=3)[1:] == [utc(2025, 3, 9, 7, 30), utc(2025, 3, 10, 6, 30)]
    assert occurrences(new_york, count=2)[1] == datetime(2025, 3, 9, 3, 30, tzinfo=NEW_YORK)
    lord_howe = Series("FREQ=DAILY", datetime(2025, 10, 4, 2, 15, tzinfo=LORD_HOWE), "Australia/Lord_Howe")
    gap_day = occurrences(lord_howe, count=2)[1]
    assert gap_day == utc(2025, 10, 4, 15, 45)
    assert gap_day == datetime(2025, 10, 5, 2, 45, tzinfo=LORD_HOWE)  # 02:15 does not exist that day


def test_ambiguous_fall_back_time_is_the_first_instance() -> None:
    series = Series("FREQ=DAILY", datetime(2025, 11, 1, 1, 30, tzinfo=NEW_YORK), "America/New_York")
    assert occurrences(series, count=3)[1:] == [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]
    lord_howe = Series("FREQ=DAILY", datetime(2025, 4, 5, 1, 45, tzinfo=LORD_HOWE), "Australia/Lord_Howe")
    assert occurrences(lord_howe, count=2)[1] == utc(2025, 4, 5, 14, 45)  # 01:45 +11:00, the earlier one


def test_monthly_last_friday() -> None:
    series = Series("FREQ=MONTHLY;BYDAY=-1FR", date(2025, 3, 28), "Europe/London")
    assert complete_on_time(series, 2) == [date(2025, 4, 25), date(2025, 5, 30)]


def test_water_plants_due_tomorrow_completed_early_today() -> None:
    today_9 = datetime(2025, 6, 10, 9, tzinfo=BERLIN)
    series = Series("FREQ=DAILY;INTERVAL=2", datetime(2025, 6, 11, 9, tzinfo=BERLIN), "Europe/Berlin")
    now = datetime(2025, 6, 10, 18, tzinfo=BERLIN)
    following = next_occurrence(series, current=series.anchor, completed_at=now, now=now)
    assert following == datetime(2025, 6, 13, 9, tzinfo=BERLIN)
    assert following == today_9.replace(day=13)


def test_feb_29_yearly_clamps_to_feb_28_and_returns_in_leap_years() -> None:
    series = Series("FREQ=YEARLY", date(2024, 2, 29), "UTC")
    assert complete_on_time(series, 4) == [
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_explicit_bymonthday_31_skips_months_without_it() -> None:
    series = Series("FREQ=MONTHLY;BYMONTHDAY=31", date(2025, 1, 31), "UTC")
    assert complete_on_time(series, 3) == [date(2025, 3, 31), date(2025, 5, 31), date(2025, 7, 31)]


def test_clamp_honours_interval_count_and_bymonth() -> None:
    every_2 = Series("FREQ=MONTHLY;INTERVAL=2;COUNT=4", date(2023, 12, 31), "UTC")
    assert occurrences(every_2, count=10) == [
        date(2023, 12, 31),
        date(2024, 2, 29),
        date(2024, 4, 30),
        date(2024, 6, 30),
    ]
    twice_a_year = Series("FREQ=YEARLY;BYMONTH=2,8", date(2025, 1, 31), "UTC")
    assert occurrences(twice_a_year, count=4) == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 8, 31),
        date(2026, 2, 28),
    ]
    quarterly = Series("FREQ=MONTHLY;BYMONTH=2,5,8,11", date(2025, 5, 31), "UTC")
    assert occurrences(quarterly, count=3) == [date(2025, 5, 31), date(2025, 8, 31), date(2025, 11, 30)]


def test_anchor_is_the_first_occurrence_even_off_pattern() -> None:
    series = Series("FREQ=WEEKLY;BYDAY=MO;COUNT=3", date(2025, 6, 11), "UTC")
    assert occurrences(series, count=5) == [date(2025, 6, 11), date(2025, 6, 16), date(2025, 6, 23)]


# --- repeat from completion -----------------------------------------------------------------------


def test_every_3_months_from_completion_keeps_the_rules_time_of_day() -> None:
    series = Series(
        "FREQ=MONTHLY;INTERVAL=3",
        datetime(2025, 2, 1, 9, tzinfo=LONDON),
        "Europe/London",
        repeat_from="completion",
    )
    done = datetime(2025, 5, 10, 15, tzinfo=LONDON)
    following = next_occurrence(series, current=series.anchor, completed_at=done, now=done)
    assert following == datetime(2025, 8, 10, 9, tzinfo=LONDON)


def test_all_day_from_completion_uses_the_completions_local_date() -> None:
    series = Series("FREQ=DAILY;INTERVAL=10", date(2025, 6, 1), "Pacific/Auckland", repeat_from="completion")
    done = utc(2025, 6, 4, 20)  # already 5 June 08:00 in Auckland
    assert next_occurrence(series, current=series.anchor, completed_at=done, now=done) == date(2025, 6, 15)


def test_from_completion_with_byday_waits_the_interval_then_takes_the_rules_day() -> None:
    series = Series("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", date(2025, 6, 2), "UTC", repeat_from="completion")
    done = utc(2025, 6, 4, 12)  # Wednesday; +2 weeks = Wed 18 June; first Monday on/after it
    assert next_occurrence(series, current=series.anchor, completed_at=done, now=done) == date(2025, 6, 23)


def test_from_completion_respects_until() -> None:
    series = Series("FREQ=MONTHLY;UNTIL=20250701", date(2025, 5, 1), "UTC", repeat_from="completion")
    in_may, in_june = utc(2025, 5, 20, 12), utc(2025, 6, 5, 12)
    assert next_occurrence(series, current=date(2025, 5, 1), completed_at=in_may, now=in_may) == date(
        2025, 6, 20
    )
    assert next_occurrence(series, current=date(2025, 6, 20), completed_at=in_june, now=in_june) is None


def test_from_completion_rejects_count() -> None:
    with pytest.raises(ValidationError, match="COUNT cannot be combined with repeat from completion"):
        Series("FREQ=DAILY;COUNT=3", date(2025, 5, 1), "UTC", repeat_from="completion")


# --- missed occurrences ---------------------------------------------------------------------------


def test_completing_an_overdue_occurrence_skips_missed_ones() -> None:
    series = Series("FREQ=DAILY", datetime(2025, 6, 1, 9, tzinfo=BERLIN), "Europe/Berlin")
    now = datetime(2025, 6, 5, 10, tzinfo=BERLIN)  # today's 09:00 is already past
    following = next_occurrence(
        series, current=datetime(2025, 6, 2, 9, tzinfo=BERLIN), completed_at=now, now=now
    )
    assert following == datetime(2025, 6, 6, 9, tzinfo=BERLIN)


def test_keep_missed_gives_the_next_occurrence_even_if_past() -> None:
    series = Series("FREQ=DAILY", datetime(2025, 6, 1, 9, tzinfo=BERLIN), "Europe/Berlin", keep_missed=True)
    now = datetime(2025, 6, 5, 10, tzinfo=BERLIN)
    following = next_occurrence(
        series, current=datetime(2025, 6, 2, 9, tzinfo=BERLIN), completed_at=now, now=now
    )
    assert following == datetime(2025, 6, 3, 9, tzinfo=BERLIN)


def test_all_day_overdue_next_is_today_in_the_series_zone() -> None:
    series = Series("FREQ=DAILY", date(2025, 6, 1), "Pacific/Auckland")
    now = utc(2025, 6, 4, 20)  # 5 June 08:00 in Auckland, still 4 June in UTC
    assert next_occurrence(series, current=date(2025, 6, 2), completed_at=now, now=now) == date(2025, 6, 5)


# --- COUNT and UNTIL ------------------------------------------------------------------------------


def test_count_counts_from_the_anchor_and_ends_the_series() -> None:
    series = Series("FREQ=WEEKLY;COUNT=3", date(2025, 6, 2), "UTC")
    assert complete_on_time(series, 5) == [date(2025, 6, 9), date(2025, 6, 16)]
    assert (
        next_occurrence(
            series, current=date(2025, 6, 16), completed_at=utc(2025, 6, 16), now=utc(2025, 6, 16)
        )
        is None
    )


def test_date_until_includes_that_whole_day_in_the_tasks_zone() -> None:
    series = Series(
        "FREQ=DAILY;UNTIL=20250630", datetime(2025, 6, 28, 23, 30, tzinfo=LOS_ANGELES), "America/Los_Angeles"
    )
    dues = occurrences(series, count=10)
    assert dues == [
        utc(2025, 6, 29, 6, 30),
        utc(2025, 6, 30, 6, 30),
        utc(2025, 7, 1, 6, 30),
    ]  # last: 30 June local


def test_utc_until_is_compared_as_an_instant() -> None:
    series = Series(
        "FREQ=DAILY;UNTIL=20250630T070000Z", datetime(2025, 6, 28, 9, tzinfo=BERLIN), "Europe/Berlin"
    )
    assert occurrences(series, count=10) == [utc(2025, 6, 28, 7), utc(2025, 6, 29, 7), utc(2025, 6, 30, 7)]
    earlier = Series(
        "FREQ=DAILY;UNTIL=20250630T065959Z", datetime(2025, 6, 28, 9, tzinfo=BERLIN), "Europe/Berlin"
    )
    assert occurrences(earlier, count=10) == [utc(2025, 6, 28, 7), utc(2025, 6, 29, 7)]
    now = utc(2025, 6, 29, 8)
    assert next_occurrence(earlier, current=utc(2025, 6, 29, 7), completed_at=now, now=now) is None


def test_utc_until_for_all_day_series_uses_its_local_date() -> None:
    series = Series("FREQ=DAILY;UNTIL=20250630T130000Z", date(2025, 6, 29), "Pacific/Auckland")
    assert occurrences(series, count=10) == [date(2025, 6, 29), date(2025, 6, 30), date(2025, 7, 1)]


# --- previews and input checks --------------------------------------------------------------------


def test_occurrences_after_is_strict() -> None:
    series = Series("FREQ=WEEKLY;BYDAY=MO,TH", datetime(2025, 6, 2, 8, tzinfo=UTC), "UTC")
    assert occurrences(series, after=utc(2025, 6, 5, 8), count=2) == [utc(2025, 6, 9, 8), utc(2025, 6, 12, 8)]
    assert occurrences(series, count=0) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rrule": "FREQ=DAILY", "anchor": datetime(2025, 1, 1, 9), "tz": "UTC"}, "due"),
        ({"rrule": "FREQ=DAILY", "anchor": date(2025, 1, 1), "tz": "Mars/Olympus"}, "tz"),
        ({"rrule": "FREQ=SOMETIMES", "anchor": date(2025, 1, 1), "tz": "UTC"}, "recurrence"),
        (
            {"rrule": "FREQ=DAILY", "anchor": date(2025, 1, 1), "tz": "UTC", "repeat_from": "start"},
            "repeat_from",
        ),
    ],
)
def test_series_rejects_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Series(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_series_normalizes_its_rule() -> None:
    assert Series("rrule:freq=daily;interval=1", date(2025, 1, 1), "UTC").rrule == "FREQ=DAILY"


def test_mismatched_due_kinds_are_rejected() -> None:
    series = Series("FREQ=DAILY", date(2025, 1, 1), "UTC")
    with pytest.raises(ValidationError, match="after must be a date"):
        occurrences(series, after=utc(2025, 1, 2))
    with pytest.raises(ValidationError, match="now must be a timezone-aware"):
        next_occurrence(
            series, current=date(2025, 1, 1), completed_at=utc(2025, 1, 1), now=datetime(2025, 1, 1)
        )
    with pytest.raises(ValidationError, match="count must be"):
        occurrences(series, count=-1)


def test_first_occurrence_on_or_after_now() -> None:
    now = datetime(2025, 6, 10, 15, tzinfo=BERLIN)  # Tuesday
    assert first_occurrence("FREQ=MONTHLY;BYMONTHDAY=1", tz="Europe/Berlin", now=now) == date(2025, 7, 1)
    assert first_occurrence("FREQ=DAILY", tz="Europe/Berlin", now=now) == date(2025, 6, 10)
    nine = datetime(2025, 6, 11, 9, tzinfo=BERLIN)
    assert first_occurrence("FREQ=DAILY", tz="Europe/Berlin", now=now, at=nine.time()) == nine
    assert first_occurrence("FREQ=DAILY;UNTIL=20250601", tz="Europe/Berlin", now=now) is None


# --- describe -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=DAILY", "every day"),
        ("FREQ=DAILY;INTERVAL=2", "every 2 days"),
        ("FREQ=WEEKLY", "every week"),
        ("FREQ=WEEKLY;BYDAY=MO,TH", "every week on Monday and Thursday"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR", "every 2 weeks on Monday, Wednesday and Friday"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "monthly on the last Friday"),
        ("FREQ=MONTHLY;BYDAY=2TU", "monthly on the second Tuesday"),
        ("FREQ=MONTHLY;INTERVAL=3", "every 3 months"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15,-1", "monthly on the 1st, the 15th and the last day"),
        ("FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=31", "every 2 months on the 31st"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "monthly on the last weekday"),
        ("FREQ=YEARLY", "every year"),
        ("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25", "yearly on 25 December"),
        ("FREQ=YEARLY;BYMONTH=3,9", "every year in March and September"),
        ("FREQ=DAILY;UNTIL=20260630", "every day until 30 June 2026"),
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=5", "every week on Monday, 5 times"),
        ("FREQ=DAILY;UNTIL=20260630T220000Z", "every day until 30 June 2026 22:00 UTC"),
    ],
)
def test_describe_in_english(rule: str, words: str) -> None:
    assert describe(rule) == words
