"""Property-based checks of recurrence expansion against its rules and against python-dateutil."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import rrulestr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from taskstream.domain.errors import ValidationError
from taskstream.domain.recurrence import (
    Moment,
    Series,
    localize,
    next_occurrence,
    normalize_rrule,
    occurrences,
)

ZONES = [
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Asia/Kolkata",
]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
SETTINGS = settings(max_examples=150, deadline=None)
N = 24

zones = st.sampled_from(ZONES)
local_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
start_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31))
intervals = st.integers(1, 4)


def _days(draw: st.DrawFn) -> str:
    chosen = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4, unique=True))
    return ",".join(chosen)


@st.composite
def explicit_rules(draw: st.DrawFn) -> str:
    """Rules outside the month-end clamp, so RFC 5545 (dateutil) expansion applies as is."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(intervals)}"]
    if freq == "DAILY":
        parts.append(f"BYDAY={_days(draw)}")
        if draw(st.booleans()):
            parts.append(
                "BYMONTH=" + ",".join(map(str, draw(st.sets(st.integers(1, 12), min_size=1, max_size=3))))
            )
    elif freq == "WEEKLY":
        parts.append(f"BYDAY={_days(draw)}")
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    elif freq == "MONTHLY":
        kind = draw(st.sampled_from(["monthday", "ordinal", "setpos"]))
        if kind == "monthday":
            values = draw(st.sets(st.sampled_from([*range(1, 32), -1, -2, -3]), min_size=1, max_size=3))
            parts.append("BYMONTHDAY=" + ",".join(map(str, values)))
        elif kind == "ordinal":
            parts.append(f"BYDAY={draw(st.sampled_from([1, 2, 3, 4, -1, -2]))}{draw(st.sampled_from(DAYS))}")
        else:
            parts.append(f"BYDAY={_days(draw)};BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    else:
        kind = draw(st.sampled_from(["date", "ordinal", "yearday", "weekno"]))
        month = draw(st.integers(1, 12))
        if kind == "date":
            parts.append(f"BYMONTH={month};BYMONTHDAY={draw(st.integers(1, 31))}")
        elif kind == "ordinal":
            parts.append(
                f"BYMONTH={month};BYDAY={draw(st.sampled_from([1, 2, -1]))}{draw(st.sampled_from(DAYS))}"
            )
        elif kind == "yearday":
            parts.append(f"BYYEARDAY={draw(st.sampled_from([1, 60, 100, 200, 365, -1]))}")
        else:
            parts.append(f"BYWEEKNO={draw(st.integers(1, 52))};BYDAY={draw(st.sampled_from(DAYS))}")
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 30))}")
    rule = ";".join(parts)
    try:
        return normalize_rrule(rule)
    except ValidationError:
        assume(False)
        raise


def _local(due: Moment, zone: ZoneInfo) -> datetime:
    if isinstance(due, datetime):
        return due.astimezone(zone).replace(tzinfo=None)
    return datetime.combine(due, time())


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    return localize(local, zone).astimezone(zone).replace(tzinfo=None) == local


@SETTINGS
@given(rule=explicit_rules(), start=start_dates, at=local_times, tz=zones, timed=st.booleans())
def test_explicit_rules_match_dateutil(rule: str, start: date, at: time, tz: str, timed: bool) -> None:
    zone = ZoneInfo(tz)
    first = rrulestr(rule, dtstart=datetime.combine(start, at if timed else time())).after(
        datetime.combine(start, time()), inc=True
    )
    assume(first is not None and first.year < 2200)
    assert first is not None
    assume(not timed or _exists(first, zone))
    anchor: Moment = localize(first, zone) if timed else first.date()
    expected = list(islice(iter(rrulestr(rule, dtstart=first)), N))
    got = occurrences(Series(rule, anchor, tz), count=N)
    if timed:
        assert got == [localize(local, zone) for local in expected]
    else:
        assert got == [local.date() for local in expected]


@SETTINGS
@given(rule=explicit_rules(), start=start_dates, at=local_times, tz=zones)
def test_occurrences_increase_and_keep_their_local_time(rule: str, start: date, at: time, tz: str) -> None:
    zone = ZoneInfo(tz)
    anchor_local = datetime.combine(start, at)
    assume(_exists(anchor_local, zone))
    got = occurrences(Series(rule, localize(anchor_local, zone), tz), count=N)
    assert all(a < b for a, b in pairwise(got))
    for due in got:
        local = _local(due, zone)
        wall = datetime.combine(local.date(), at)
        if _exists(wall, zone):
            assert local.time() == at
        else:  # spring-forward gap: moved forward by the gap, still the same day
            assert due == localize(wall, zone) and local > wall and local.date() == wall.date()


@SETTINGS
@given(
    freq=st.sampled_from(["MONTHLY", "YEARLY"]),
    interval=intervals,
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31)),
    day=st.integers(28, 31),
    at=local_times,
    tz=zones,
    count=st.none() | st.integers(1, 20),
)
def test_plain_monthly_and_yearly_never_drift_from_the_anchor_day(
    freq: str, interval: int, start: date, day: int, at: time, tz: str, count: int | None
) -> None:
    zone = ZoneInfo(tz)
    anchor_date = start.replace(day=min(day, calendar.monthrange(start.year, start.month)[1]))
    assume(_exists(datetime.combine(anchor_date, at), zone))
    rule = f"FREQ={freq};INTERVAL={interval}" + (f";COUNT={count}" if count else "")
    got = occurrences(Series(rule, localize(datetime.combine(anchor_date, at), zone), tz), count=N)
    assert len(got) == min(N, count or N)
    step = interval * (12 if freq == "YEARLY" else 1)
    first_month = anchor_date.year * 12 + anchor_date.month - 1
    for k, due in enumerate(got):
        local = _local(due, zone)
        assert local.year * 12 + local.month - 1 == first_month + k * step
        assert local.day == min(anchor_date.day, calendar.monthrange(local.year, local.month)[1])


@SETTINGS
@given(rule=explicit_rules(), start=start_dates, tz=zones, pick=st.integers(0, N - 2))
def test_next_occurrence_with_keep_missed_walks_the_preview(
    rule: str, start: date, tz: str, pick: int
) -> None:
    series = Series(rule, start, tz, keep_missed=True)
    dues = occurrences(series, count=N)
    assume(pick < len(dues))
    now = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=1)
    following = next_occurrence(series, current=dues[pick], completed_at=now, now=now)
    assert following == (dues[pick + 1] if pick + 1 < len(dues) else None)  # shorter list: COUNT ended it


# Every IANA zone, and the days some zones skipped or repeated whole (Samoa and Tokelau skipped 30 December
# 2011, Kwajalein 21 August 1993; Alaska repeated 18 October 1867 when its clocks moved across the date line).
ALL_ZONES = [*sorted(z for z in available_timezones() if "/" in z), "UTC"]  # the names the API takes
DAY_JUMPS = [
    ("Pacific/Apia", date(2011, 12, 24)),
    ("Pacific/Fakaofo", date(2011, 12, 24)),
    ("Pacific/Kwajalein", date(1993, 8, 14)),
    ("America/Sitka", date(1867, 10, 11)),
    ("America/Juneau", date(1867, 10, 11)),
]
any_zone_and_start = st.one_of(
    st.sampled_from(DAY_JUMPS).flatmap(
        lambda jump: st.tuples(
            st.just(jump[0]), st.integers(0, 10).map(lambda n: jump[1] + timedelta(days=n))
        )
    ),
    st.tuples(st.sampled_from(ALL_ZONES), st.dates(min_value=date(1970, 1, 1), max_value=date(2037, 12, 31))),
)


plain_rules = st.builds(
    lambda freq, interval: f"FREQ={freq};INTERVAL={interval}",
    st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    st.integers(1, 2),
)


@settings(max_examples=400, deadline=None)
@given(
    rule=plain_rules | explicit_rules(),
    zone_and_start=any_zone_and_start,
    at=local_times,
    timed=st.booleans(),
)
def test_occurrences_strictly_increase_in_utc_in_every_zone(
    rule: str, zone_and_start: tuple[str, date], at: time, timed: bool
) -> None:
    """Never the same instant twice, never going back: also across a skipped or repeated day, whose
    wall-clock times exist twice or not at all (RFC 5545 §3.3.5: a gap's time takes the offset before it)."""
    tz, start = zone_and_start
    anchor: Moment = localize(datetime.combine(start, at), ZoneInfo(tz)) if timed else start
    got = occurrences(Series(rule, anchor, tz), count=N)
    assert got and got[0] == anchor
    assert all(a < b for a, b in pairwise(got)), got


def test_the_day_samoa_skipped_gives_no_second_occurrence_at_the_same_instant() -> None:
    """10:00 on 30 December 2011 never happened in Apia; read with the offset before the gap it is the
    instant of 31 December 10:00, which is the next occurrence already: one occurrence, not two."""
    zone = ZoneInfo("Pacific/Apia")
    got = occurrences(
        Series("FREQ=DAILY", localize(datetime(2011, 12, 28, 10), zone), "Pacific/Apia"), count=4
    )
    assert [_local(d, zone).strftime("%d %H:%M") for d in got] == [
        "28 10:00",
        "29 10:00",
        "31 10:00",
        "01 10:00",
    ]
