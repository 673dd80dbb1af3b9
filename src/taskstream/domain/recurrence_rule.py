"""RFC 5545 RRULE value: parsing, validation and canonical text (expansion lives in recurrence.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from dateutil import rrule as du

from taskstream.domain.errors import ValidationError

FIELD = "recurrence"
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
SUB_DAILY_FREQS = ("HOURLY", "MINUTELY", "SECONDLY")
MAX_LENGTH = 500
MAX_INTERVAL = 10_000
MAX_COUNT = 100_000
_ORDER = (
    "FREQ",
    "INTERVAL",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYSETPOS",
    "COUNT",
    "UNTIL",
    "WKST",
)
_TIME_OF_DAY_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_BYDAY_RE = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_UNTIL_UTC_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
_UNTIL_FLOATING_RE = re.compile(r"^\d{8}T\d{6}$")
_DU_FREQ = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY, "YEARLY": du.YEARLY}
_DU_WEEKDAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)
_CHECK_START = datetime(2000, 1, 1)
_CHECK_END = datetime(9999, 12, 31, 23, 59, 59)


@dataclass(frozen=True)
class RuleParts:
    """A validated RRULE; byday: (ordinal or None, weekday 0=Monday) pairs; until: date or UTC datetime."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: date | datetime | None = None
    bymonth: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byday: tuple[tuple[int | None, int], ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int = 0

    @property
    def clamps(self) -> bool:
        """True for a plain MONTHLY/YEARLY rule (BYMONTH at most): its anchor day is clamped to month end."""
        by_day_parts = (self.byweekno, self.byyearday, self.bymonthday, self.byday, self.bysetpos)
        return self.freq in ("MONTHLY", "YEARLY") and not any(by_day_parts)

    def to_value(self) -> str:
        """Canonical RRULE text: upper case, fixed part order, defaults (INTERVAL=1, WKST=MO) left out."""
        values: dict[str, str] = {"FREQ": self.freq}
        if self.interval != 1:
            values["INTERVAL"] = str(self.interval)
        for name, numbers in (
            ("BYMONTH", self.bymonth),
            ("BYWEEKNO", self.byweekno),
            ("BYYEARDAY", self.byyearday),
            ("BYMONTHDAY", self.bymonthday),
        ):
            if numbers:
                values[name] = ",".join(str(n) for n in numbers)
        if self.byday:
            values["BYDAY"] = ",".join(f"{n if n else ''}{WEEKDAYS[wd]}" for n, wd in self.byday)
        if self.bysetpos:
            values["BYSETPOS"] = ",".join(str(n) for n in self.bysetpos)
        if self.count is not None:
            values["COUNT"] = str(self.count)
        if isinstance(self.until, datetime):
            values["UNTIL"] = self.until.strftime("%Y%m%dT%H%M%SZ")
        elif self.until is not None:
            values["UNTIL"] = self.until.strftime("%Y%m%d")
        if self.wkst:
            values["WKST"] = WEEKDAYS[self.wkst]
        return ";".join(f"{name}={values[name]}" for name in _ORDER if name in values)

    def dateutil_rule(self, dtstart: datetime, *, interval: int | None = None, until: datetime) -> du.rrule:
        """The rule's pattern as a dateutil rrule from a naive local dtstart, without its COUNT/UNTIL."""
        kwargs: dict[str, Any] = {
            "dtstart": dtstart,
            "interval": self.interval if interval is None else interval,
            "wkst": self.wkst,
            "until": until,
            "bymonth": self.bymonth or None,
            "byweekno": self.byweekno or None,
            "byyearday": self.byyearday or None,
            "bymonthday": self.bymonthday or None,
            "bysetpos": self.bysetpos or None,
        }
        if self.byday:
            kwargs["byweekday"] = [_DU_WEEKDAYS[wd](n) if n else _DU_WEEKDAYS[wd] for n, wd in self.byday]
        return du.rrule(_DU_FREQ[self.freq], **kwargs)


def _fail(message: str) -> ValidationError:
    return ValidationError(message, field=FIELD)


def _sort_key(number: int) -> tuple[bool, int]:
    return (number < 0, abs(number))


def _numbers(name: str, raw: str, low: int, high: int, *, negatives: bool) -> tuple[int, ...]:
    found: set[int] = set()
    for item in raw.split(","):
        if not re.fullmatch(r"[+-]?\d{1,3}", item):
            raise _fail(f"{name} value '{item}' is not a whole number")
        number = int(item)
        if not (low <= abs(number) <= high) or (number < 0 and not negatives):
            allowed = f"{low} to {high}" + (f" or -{high} to -{low}" if negatives else "")
            raise _fail(f"{name} value '{item}' is out of range ({allowed})")
        found.add(number)
    return tuple(sorted(found, key=_sort_key))


def _positive(name: str, raw: str, high: int) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise _fail(f"{name} must be a whole number from 1 to {high}, not '{raw}'")
    return int(raw)


def _until(raw: str) -> date | datetime:
    if _UNTIL_FLOATING_RE.match(raw):
        raise _fail(f"UNTIL date-time '{raw}' must be in UTC (end with 'Z'), or give a date (YYYYMMDD)")
    try:
        if match := _UNTIL_DATE_RE.match(raw):
            return date(*(int(g) for g in match.groups()))
        if match := _UNTIL_UTC_RE.match(raw):
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise _fail(f"UNTIL '{raw}' is not a real date") from None
    raise _fail(f"UNTIL '{raw}' must be a date (YYYYMMDD) or a UTC date-time (YYYYMMDDTHHMMSSZ)")


def _byday(raw: str, freq: str, *, by_month: bool, by_weekno: bool) -> tuple[tuple[int | None, int], ...]:
    found: set[tuple[int | None, int]] = set()
    for item in raw.split(","):
        match = _BYDAY_RE.match(item)
        if not match:
            raise _fail(
                f"BYDAY value '{item}' is not a weekday (MO..SU) with an optional ordinal like 2TU or -1FR"
            )
        ordinal = int(match.group(1)) if match.group(1) else None
        if ordinal is not None:
            if freq not in ("MONTHLY", "YEARLY") or by_weekno:
                raise _fail(f"BYDAY ordinal in '{item}' needs FREQ=MONTHLY or YEARLY (and no BYWEEKNO)")
            high = 5 if freq == "MONTHLY" or by_month else 53
            if not 1 <= abs(ordinal) <= high:
                raise _fail(f"BYDAY ordinal in '{item}' is out of range (1 to {high} or -{high} to -1)")
        found.add((ordinal, WEEKDAYS.index(match.group(2))))
    return tuple(sorted(found, key=lambda pair: (pair[1], _sort_key(pair[0] or 0))))


def _split(value: str) -> dict[str, str]:
    text = value.strip()
    if not text:
        raise _fail("recurrence rule is empty")
    if len(text) > MAX_LENGTH:
        raise _fail(f"recurrence rule is longer than {MAX_LENGTH} characters")
    if "DTSTART" in text.upper():
        raise _fail("DTSTART is not part of an RRULE value; the series starts at the task's due")
    if "\n" in text or "\r" in text:
        raise _fail("give one RRULE value on one line, not several iCalendar lines")
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for piece in text.upper().rstrip(";").split(";"):
        name, sep, raw = piece.strip().partition("=")
        if not sep or not name or not raw.strip():
            raise _fail(f"rule part '{piece}' is not NAME=VALUE")
        if name in parts:
            raise _fail(f"rule part {name} appears twice")
        parts[name] = raw.strip()
    return parts


def _check_combinations(parts: dict[str, str], freq: str) -> None:
    for name in parts:
        if name in _TIME_OF_DAY_PARTS:
            raise _fail(f"{name} is not supported: the time of day comes from the task's due time")
        if name not in _ORDER:
            raise _fail(f"unknown rule part '{name}'")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _fail("COUNT and UNTIL cannot both be given (RFC 5545)")
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        raise _fail("BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545)")
    if "BYYEARDAY" in parts and freq != "YEARLY":
        raise _fail("BYYEARDAY can only be used with FREQ=YEARLY")
    if "BYWEEKNO" in parts and freq != "YEARLY":
        raise _fail("BYWEEKNO can only be used with FREQ=YEARLY (RFC 5545)")
    if "BYSETPOS" in parts and not {"BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"} & parts.keys():
        raise _fail("BYSETPOS needs another BYxxx part (e.g. BYDAY) to pick from (RFC 5545)")


def _freq(parts: dict[str, str]) -> str:
    freq = parts.get("FREQ")
    if freq is None:
        raise _fail("FREQ is required (e.g. FREQ=WEEKLY)")
    if freq in SUB_DAILY_FREQS:
        raise _fail(f"FREQ={freq} is not supported; the shortest repeat is FREQ=DAILY")
    if freq not in FREQS:
        raise _fail(f"FREQ '{freq}' is unknown; use DAILY, WEEKLY, MONTHLY or YEARLY")
    return freq


@lru_cache(maxsize=1024)
def parse_rule(value: str) -> RuleParts:
    """Parse and validate an RRULE value ("RRULE:" prefix optional, any case); raises ValidationError."""
    parts = _split(value)
    freq = _freq(parts)
    _check_combinations(parts, freq)
    wkst = parts.get("WKST", "MO")
    if wkst not in WEEKDAYS:
        raise _fail(f"WKST '{wkst}' is not a weekday (MO..SU)")
    get = parts.get
    rule = RuleParts(
        freq=freq,
        interval=_positive("INTERVAL", parts["INTERVAL"], MAX_INTERVAL) if "INTERVAL" in parts else 1,
        count=_positive("COUNT", parts["COUNT"], MAX_COUNT) if "COUNT" in parts else None,
        until=_until(parts["UNTIL"]) if "UNTIL" in parts else None,
        bymonth=_numbers("BYMONTH", get("BYMONTH", ""), 1, 12, negatives=False) if "BYMONTH" in parts else (),
        byweekno=_numbers("BYWEEKNO", parts["BYWEEKNO"], 1, 53, negatives=True)
        if "BYWEEKNO" in parts
        else (),
        byyearday=_numbers("BYYEARDAY", get("BYYEARDAY", ""), 1, 366, negatives=True)
        if "BYYEARDAY" in parts
        else (),
        bymonthday=_numbers("BYMONTHDAY", get("BYMONTHDAY", ""), 1, 31, negatives=True)
        if "BYMONTHDAY" in parts
        else (),
        byday=_byday(parts["BYDAY"], freq, by_month="BYMONTH" in parts, by_weekno="BYWEEKNO" in parts)
        if "BYDAY" in parts
        else (),
        bysetpos=_numbers("BYSETPOS", parts["BYSETPOS"], 1, 366, negatives=True)
        if "BYSETPOS" in parts
        else (),
        wkst=WEEKDAYS.index(wkst),
    )
    if not rule.clamps and not produces(rule, _CHECK_START, interval=1):
        raise _fail("the rule never produces an occurrence (e.g. BYMONTH=2;BYMONTHDAY=30)")
    return rule


@lru_cache(maxsize=4096)
def _produces_late(rule: RuleParts, late_start: datetime, interval: int) -> bool:
    found = rule.dateutil_rule(late_start, interval=interval, until=_CHECK_END).after(late_start, inc=True)
    return found is not None


def produces(rule: RuleParts, start: datetime, *, interval: int) -> bool:
    """True when the dateutil pattern from naive `start` has an occurrence within 400 years (bounded cost).

    dateutil loops to year 9999 when a rule never matches; the Gregorian calendar repeats every 400 years,
    so the same start is tried in years 9200-9599, where that loop is short.
    """
    return _produces_late(rule, start.replace(year=9200 + start.year % 400, microsecond=0), interval)


def normalize_rrule_value(value: str) -> str:
    """Canonical upper-case RRULE value for `value`; raises ValidationError(field="recurrence") (RFC 5545)."""
    return parse_rule(value).to_value()
