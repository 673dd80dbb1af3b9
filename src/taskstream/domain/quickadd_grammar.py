"""The quick-add grammar: the regular expressions nlparse reads a line with, and their word tables."""

from __future__ import annotations

import calendar
import re
from datetime import date, time, timedelta
from typing import Literal

from taskstream.domain.recurrence_phrases import DAY_NUMBER, MONTH, WD

MAX_TEXT = 1000
PRIORITIES = {
    "none": "none",
    "low": "low",
    "medium": "medium",
    "med": "medium",
    "high": "high",
    "urgent": "urgent",
    "1": "urgent",
    "2": "high",
    "3": "medium",
    "4": "low",
}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "ten": 10,
}
_N = r"(?P<n>\d{1,3}|" + "|".join(NUMBERS) + ")"
_PREFIX = r"(?:\b(?:due|by|starting|from)\s+(?:on\s+)?|\bon\s+)?"
_TIME = (
    r"(?P<h>\d{1,2})(?::(?P<m>[0-5]\d))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)(?!\w)"
    r"|(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)\b|(?P<word>noon|midnight)\b"
)
_FLAGS = re.IGNORECASE
TAG_RE = re.compile(r"(?<![\w#&])#([^\W\d_][\w-]{0,49})", _FLAGS)
PRIORITY_RE = re.compile(r"(?<![\w!])!([\w-]+)", _FLAGS)
REMIND_BEFORE_RE = re.compile(
    r"\bremind(?:\s+me)?\s+(?P<n>\d{1,4})\s*(?P<unit>m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)"
    r"\s+(?:before|earlier|early|prior)\b",
    _FLAGS,
)
REMIND_AT_RE = re.compile(rf"\bremind(?:\s+me)?\s+at\s+(?:{_TIME})", _FLAGS)
TIME_RE = re.compile(rf"(?:\bat\s+)?(?:{_TIME})|\bat\s+(?P<hat>[01]?\d|2[0-3])\b(?![:.]\d)", _FLAGS)
_ABS = (
    rf"(?P<iso>\b\d{{4}}-\d{{2}}-\d{{2}}\b)"
    rf"|\b(?P<dm>{DAY_NUMBER}\s+(?:of\s+)?{MONTH}(?:,?\s+\d{{4}}\b)?)"
    rf"|\b(?P<md>{MONTH}\s+{DAY_NUMBER}\b(?:,?\s+\d{{4}}\b)?)"
    # 10/12, 10/12/26, 2026/12/10; with dots only as written in day-first countries: 10.12. or 10.12.2026
    r"|(?<![\w/.])(?P<num>\d{1,4}/\d{1,2}(?:/\d{2,4})?|\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})?)(?![\w/]|\.\d)"
)
UNTIL_RE = re.compile(rf"\buntil\s+(?:{_ABS})", _FLAGS)
EVENING = time(19)
EVENING_RE = re.compile(rf"{_PREFIX}(?P<phrase>\b(?:tonight|this\s+evening))\b", _FLAGS)
# "end of week" is the coming Friday (today counting), "end of month" its last day, "end of quarter" the last
# day of March, June, September or December, "end of year" 31 December; "eow", "eom", "eoq", "eoy" too.
END_OF_RE = re.compile(
    rf"{_PREFIX}(?P<phrase>\b(?:(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?P<eo>week|month|quarter|year)"
    r"|eo(?P<eo_short>[wmqy])))\b",
    _FLAGS,
)
DATE_RES = (
    EVENING_RE,
    END_OF_RE,
    re.compile(
        rf"{_PREFIX}(?P<phrase>\b(?:today|tomorrow|yesterday|(?:the\s+)?day\s+after\s+tomorrow))\b"
        r"(?!['’]s\b)",  # "today's notes" is a title
        _FLAGS,
    ),
    re.compile(rf"{_PREFIX}(?P<phrase>\bin\s+{_N}\s+(?P<unit>day|week|month|year)s?)\b", _FLAGS),
    re.compile(rf"{_PREFIX}(?P<phrase>\b(?:next|this)\s+(?:{WD}|week\b|month\b|year\b))", _FLAGS),
    re.compile(rf"(?:\b(?:due|by|starting|from)\s+(?:on\s+)?|\bon\s+)(?P<phrase>{WD})", _FLAGS),
    re.compile(rf"{_PREFIX}(?:{_ABS})", _FLAGS),
)
IN_TIME_RE = re.compile(rf"\bin\s+{_N}\s+(?P<unit>minute|min|hour|hr)s?\b", _FLAGS)
_TAIL_WEEKDAY = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|thu(?:rs?)?|fri"
# At the end of the title (what follows is consumed: NUL), optionally with a bare hour ("thu 9" = 09:00).
TAIL_WEEKDAY_RE = re.compile(
    rf"\b(?P<wd>{_TAIL_WEEKDAY})(?:\s+(?P<hour>[01]?\d|2[0-3]))?(?=[\s\x00]*$)", _FLAGS
)
TIMED_WEEKDAY_RE = re.compile(r"\b(?P<wd>sat|sun|wed)(?=\s*\x00)", _FLAGS)  # only right before a time
_SCHEDULE_WORD = rf"(?:\d|other\b|{WD}|{MONTH}|(?:day|week|month|year|hour|minute|weekday|weekend)s?\b)"
_WORD = r"[^\s\x00]+"
# What starts like an instruction but was not read: listed in `unparsed`, never silently left in the title.
LEFTOVER_RES = (
    re.compile(rf"\bremind\b(?:\s+{_WORD}){{0,3}}", _FLAGS),
    re.compile(rf"\bevery\s+{_WORD}(?:\s+{_WORD})?|\beach\s+{_SCHEDULE_WORD}{_WORD}?(?:\s+{_WORD})?", _FLAGS),
    re.compile(rf"\buntil\s+{_WORD}(?:\s+{_WORD})?", _FLAGS),
    re.compile(
        rf"\b(?:(?:by|due)\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?{_WORD}|\b(?:by|due)\s+(?:eod|eow|eom|cob)\b",
        _FLAGS,
    ),
    re.compile(
        rf"\bnext\s+(?:quarter|fortnight|weekend|decade|business\s+day|working\s+day|workday|\d{_WORD}?)",
        _FLAGS,
    ),
    re.compile(rf"\bin\s+(?:\d+|a\s+few|a\s+couple\s+of)\s+{_WORD}", _FLAGS),
)


DateOrder = Literal["DMY", "MDY", "YMD"]
DATE_ORDERS: tuple[DateOrder, ...] = ("DMY", "MDY", "YMD")


def numeric_date(text: str, order: DateOrder, today: date) -> date | None:
    """The date of "10/12", "10/12/26", "2026/12/10" or "10.12." in the user's `order` of day, month and
    year (a first part of 4 digits is always the year; without a year: the next such day, today counting).
    None when it is no date ("31/02", "13/13" day first)."""
    digits = [p for p in text.replace(".", "/").split("/") if p]
    numbers = [int(p) for p in digits]
    if len(numbers) == 3:
        if len(digits[0]) == 4 or order == "YMD":
            year, month, day = numbers
        elif order == "MDY":
            month, day, year = numbers
        else:
            day, month, year = numbers
        try:
            return date(year + 2000 if year < 100 else year, month, day)
        except ValueError:
            return None
    day, month = numbers if order == "DMY" else reversed(numbers)
    for year in range(today.year, today.year + 9):  # 29 February: the next year that has one
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def end_of(unit: str, today: date) -> date:
    """The day "end of week/month/quarter/year" (or "w", "m", "q", "y") names from `today`: this week's Friday
    (next week's at the weekend), the month's last day, the quarter's last day, 31 December."""
    unit = unit.lower()[0]
    if unit == "w":
        return today + timedelta(days=(4 - today.weekday()) % 7)
    month = today.month if unit == "m" else 3 * ((today.month - 1) // 3) + 3 if unit == "q" else 12
    return date(today.year, month, calendar.monthrange(today.year, month)[1])
