"""Recurring series: RFC 5545 RRULE expansion in the wall-clock time of the task's IANA zone.

Rules (docs/recurrence.md explains them with examples):
- Occurrences are expanded from the fixed anchor in naive local time, then localized with fold=0: a local
  time inside a spring-forward gap moves forward by the gap's length; an ambiguous fall-back time is the
  earlier one.
- A plain MONTHLY/YEARLY rule clamps the anchor day to the month's last day (Jan 31 -> Feb 28 -> Mar 31);
  an explicit BYMONTHDAY follows RFC 5545 and skips months without that day.
- The anchor is always the first occurrence and counts towards COUNT.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import chain, islice
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from taskstream.domain.errors import ValidationError
from taskstream.domain.recurrence_rule import FIELD, RuleParts, normalize_rrule_value, parse_rule, produces
from taskstream.domain.recurrence_text import describe_rule
from taskstream.domain.tasks import zone as iana_zone

Moment = datetime | date  # a due as the rule sees it: an aware instant (timed) or a date (all-day)
"""Timed: timezone-aware datetime; all-day: datetime.date."""

HORIZON_YEARS = 400
MAX_PREVIEW = 1000
_LAST = datetime(9999, 12, 31)
_STEPS = {"DAILY": "days", "WEEKLY": "weeks", "MONTHLY": "months", "YEARLY": "years"}


@dataclass(frozen=True)
class Series:
    """A recurring series: RRULE expanded in `tz` from the fixed `anchor` (aware datetime or all-day date)."""

    rrule: str
    anchor: Moment
    tz: str
    repeat_from: Literal["due", "completion"] = "due"
    keep_missed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rrule", normalize_rrule(self.rrule))
        iana_zone(self.tz, field="tz")
        if isinstance(self.anchor, datetime) and self.anchor.tzinfo is None:
            raise ValidationError(
                "the series anchor must be timezone-aware (or a date for all-day)", field="due"
            )
        if self.repeat_from not in ("due", "completion"):
            raise ValidationError("repeat_from must be 'due' or 'completion'", field="repeat_from")
        rule = parse_rule(self.rrule)
        if self.repeat_from == "completion" and rule.count is not None:
            raise ValidationError(
                "COUNT cannot be combined with repeat from completion; use UNTIL", field=FIELD
            )
        zone = iana_zone(self.tz)
        if not _within_until(rule, self.anchor, _local_of(self.anchor, zone), zone):
            raise ValidationError("UNTIL is before the first due date", field=FIELD)

    @property
    def timed(self) -> bool:
        """True when the series has a time of day (anchor is a datetime), False for all-day."""
        return isinstance(self.anchor, datetime)


def normalize_rrule(value: str) -> str:
    """Validate an RRULE value (optional "RRULE:" prefix, any case) and return its canonical upper-case text.

    Raises ValidationError(field="recurrence") naming what is wrong; FREQ below DAILY,
    BYHOUR/BYMINUTE/BYSECOND and DTSTART are rejected (RFC 5545 §3.3.10).
    """
    return normalize_rrule_value(value)


def describe(rrule: str) -> str:
    """English words for an RRULE value ("every 2 weeks on Monday and Thursday"); raises ValidationError."""
    return describe_rule(rrule)


def localize(local: datetime, zone: ZoneInfo) -> datetime:
    """Naive wall-clock time in `zone` -> aware UTC; gap times shift forward, ambiguous ones take fold=0."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _month_length(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _clamped(start: datetime, *, interval: int, months: tuple[int, ...], yearly: bool) -> Iterator[datetime]:
    """Plain MONTHLY/YEARLY pattern from `start` (inclusive) with the day clamped to each month's length."""
    first = start.year * 12 + start.month - 1
    for period in range(0, HORIZON_YEARS * 12 // (12 if yearly else 1) + 1, interval):
        if yearly:
            year = start.year + period
            candidates = [(year, m) for m in (months or (start.month,))]
        else:
            year, month0 = divmod(first + period, 12)
            candidates = [(year, month0 + 1)] if not months or month0 + 1 in months else []
        for y, m in candidates:
            if y > _LAST.year:
                return
            day = min(start.day, _month_length(y, m))
            candidate = datetime.combine(date(y, m, day), start.time())
            if candidate >= start:
                yield candidate


def _pattern(rule: RuleParts, start: datetime, *, interval: int | None = None) -> Iterator[datetime]:
    """Naive local datetimes of the rule's pattern on/after `start` (dtstart), without COUNT and UNTIL."""
    step = rule.interval if interval is None else interval
    if rule.clamps:
        yield from _clamped(start, interval=step, months=rule.bymonth, yearly=rule.freq == "YEARLY")
        return
    if not produces(rule, start, interval=step):
        return
    horizon = min(start.replace(microsecond=0) + relativedelta(years=HORIZON_YEARS), _LAST)
    for value in rule.dateutil_rule(start, interval=step, until=horizon):
        yield value.replace(microsecond=start.microsecond)


def _local_of(due: Moment, zone: ZoneInfo) -> datetime:
    """A due or the anchor on the wall clock of `zone` (naive): the local time, or 00:00 of the date."""
    if isinstance(due, datetime):
        return due.astimezone(zone).replace(tzinfo=None, fold=0)
    return datetime.combine(due, time())


def _within_until(rule: RuleParts, due: Moment, local: datetime, zone: ZoneInfo) -> bool:
    until = rule.until
    if until is None:
        return True
    if isinstance(until, datetime):
        if isinstance(due, datetime):
            return due <= until
        return local.date() <= until.astimezone(zone).date()
    return local.date() <= until


def _dues(series: Series) -> Iterator[Moment]:
    """Every occurrence of the series in order: the anchor first, then the rule; COUNT and UNTIL applied.

    Each is strictly after the one before: a wall-clock time that does not exist (a day a zone skipped, as
    Samoa did on 30 December 2011) takes the offset before the gap (RFC 5545 §3.3.5), which can be the
    instant of the next occurrence; it is then that one, once.
    """
    rule = parse_rule(series.rrule)
    zone = iana_zone(series.tz)
    anchor = _local_of(series.anchor, zone)
    emitted = 0
    first: Moment = series.anchor.astimezone(UTC) if isinstance(series.anchor, datetime) else series.anchor
    stream = (
        (local, localize(local, zone) if series.timed else local.date())
        for local in _pattern(rule, anchor)
        if local > anchor
    )
    last: Moment | None = None
    for local, due in chain([(anchor, first)], stream):
        if last is not None and not _is_after(due, last):
            continue
        if rule.count is not None and emitted >= rule.count:
            return
        if emitted and not _within_until(rule, due, local, zone):
            return
        emitted += 1
        last = due
        yield due


def _check_due(series: Series, value: Moment, name: str) -> None:
    if series.timed != isinstance(value, datetime):
        kind = "an aware datetime" if series.timed else "a date"
        raise ValidationError(f"{name} must be {kind} for this series", field=name)
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValidationError(f"{name} must be timezone-aware", field=name)


def _check_instant(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime", field=name)


def _is_after(due: Moment, other: Moment) -> bool:
    return due > other  # both datetimes or both dates (checked by _check_due)


def _from_completion(series: Series, completed_at: datetime, current: Moment) -> Moment | None:
    """The first match of the rule on/after completion + k × INTERVAL (k = 1, 2, …) that is strictly after
    `current`: done early, completion + INTERVAL can land on the due just completed, or before it."""
    rule = parse_rule(series.rrule)
    zone = iana_zone(series.tz)
    time_of_day = _local_of(series.anchor, zone).time()
    completed_local = datetime.combine(completed_at.astimezone(zone).date(), time_of_day)
    current_local = _local_of(current, zone)
    gap = relativedelta(current_local, completed_local)
    units = {
        "DAILY": (current_local - completed_local).days,
        "WEEKLY": (current_local - completed_local).days // 7,
    }
    units |= {"MONTHLY": gap.years * 12 + gap.months, "YEARLY": gap.years}
    k = max(1, units[rule.freq] // rule.interval - 1)  # steps that cannot reach past `current` are skipped
    while True:
        start = completed_local + relativedelta(**{_STEPS[rule.freq]: rule.interval * k})
        local = next(_pattern(rule, start, interval=1), None)
        if local is None:
            return None
        due: Moment = localize(local, zone) if series.timed else local.date()
        if not _within_until(rule, due, local, zone):
            return None
        if _is_after(due, current):
            return due
        k += 1


def next_occurrence(
    series: Series, *, current: Moment, completed_at: datetime, now: datetime
) -> Moment | None:
    """The due after `current` once it is completed at `completed_at` (aware) at clock `now` (aware).

    Timed series give aware UTC datetimes, all-day series dates; None when COUNT/UNTIL ended the series.
    Repeat from due: the first occurrence after `current` not in the past (after `now`; all-day: on/after
    today in the series' zone), or simply the next one with keep_missed. Repeat from completion: one INTERVAL
    after the completion's local date at the anchor's time of day, then the rule's first match on/after it
    that is strictly after `current` (so an early completion never ends the series).
    Raises ValidationError for naive datetimes or a `current` of the wrong kind (RFC 5545 expansion).
    """
    _check_due(series, current, "current")
    _check_instant(completed_at, "completed_at")
    _check_instant(now, "now")
    if series.repeat_from == "completion":
        return _from_completion(series, completed_at, current)
    today = now.astimezone(iana_zone(series.tz)).date()
    for due in _dues(series):
        if not _is_after(due, current):
            continue
        if series.keep_missed:
            return due
        if (due > now) if isinstance(due, datetime) else (due >= today):
            return due
    return None


def occurrences(series: Series, *, after: Moment | None = None, count: int = 3) -> list[Moment]:
    """The next `count` (0..1000) dues strictly after `after` (None: from the anchor, included), for previews.

    Timed series give aware UTC datetimes, all-day series dates; raises ValidationError for a bad `count`
    or an `after` of the wrong kind (RFC 5545 expansion, anchor as the first occurrence).
    """
    if not 0 <= count <= MAX_PREVIEW:
        raise ValidationError(f"count must be from 0 to {MAX_PREVIEW}", field="count")
    dues = _dues(series)
    if after is not None:
        _check_due(series, after, "after")
        dues = (due for due in dues if _is_after(due, after))
    return list(islice(dues, count))


def first_occurrence(rrule: str, *, tz: str, now: datetime, at: time | None = None) -> Moment | None:
    """First occurrence of `rrule` on/after `now` (aware) when the series starts today in `tz`.

    With `at` (local time of day) the result is an aware UTC datetime not before `now`; without it an all-day
    date not before today in `tz`. None when UNTIL/COUNT leave nothing. Raises ValidationError (RFC 5545).
    """
    _check_instant(now, "now")
    rule = parse_rule(rrule)
    zone = iana_zone(tz)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, at or time())
    produced = 0
    # The series starts at the first day the rule's pattern allows: "every 2 weeks on Monday" said on a Sunday
    # starts tomorrow, and INTERVAL counts from there (so the week of `today` is not taken as an "on" week).
    for local in _pattern(rule, start, interval=1):
        produced += 1
        due: Moment = localize(local, zone) if at is not None else local.date()
        if (rule.count is not None and produced > rule.count) or not _within_until(rule, due, local, zone):
            return None
        if not isinstance(due, datetime) or due >= now:
            return due
    return None


__all__ = [
    "Moment",
    "Series",
    "describe",
    "first_occurrence",
    "localize",
    "next_occurrence",
    "normalize_rrule",
    "occurrences",
]
