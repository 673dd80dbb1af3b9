"""Task rules: priorities, titles, tags, due times (timed or all-day) and reminder fire times."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskstream.domain.durations import Offset
from taskstream.domain.errors import ValidationError

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
TAG_MAX = 64
TAGS_MAX = 20
REMINDERS_MAX = 10
ESTIMATE_MAX = 1440  # minutes: an estimate is at most a day


PriorityLabel = Literal["none", "low", "medium", "high", "urgent"]  # Priority's labels, least pressing first
# List orders: by due (undated last), priority (most pressing first), title or creation; "-" reverses.
Sort = Literal["due", "-due", "priority", "-priority", "title", "created", "-created"]


class Priority(IntEnum):
    """Priority by meaning: a higher value is more pressing."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    URGENT = 4

    @classmethod
    def parse(cls, value: str) -> Priority:
        """ "none"|"low"|"medium"|"high"|"urgent" → Priority; ValidationError(field="priority") otherwise."""
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValidationError(
                f"unknown priority {value!r}; use none, low, medium, high or urgent", field="priority"
            ) from None

    @property
    def label(self) -> str:
        """The wire name, e.g. "high"."""
        return self.name.lower()


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The IANA zone `name`; ValidationError(field) when it is not a known IANA name."""
    try:
        if not name or ("/" not in name and name != "UTC"):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin", field=field
        ) from None


FIRST_YEAR, LAST_YEAR = 1900, 2999  # due dates and reminders outside these years are refused
BEFORE_MAX = timedelta(days=366)
ALL_DAY_AT = time(9, 0)  # when an all-day task's reminders count from, unless the user chose another time


# C0 controls but tab and line breaks, DEL and the C1 controls, the bidirectional overrides and the invisible
# characters that can disguise text, and lone surrogates (not text at all: no database can store them).
_FORBIDDEN = (
    frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r")
    | frozenset(chr(c) for c in range(0x7F, 0xA0))
    | frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    # zero-width space, word joiner, BOM, Mongolian vowel separator, invisible operators, deprecated format
    # controls, interlinear annotation marks (ZWJ and ZWNJ stay: scripts and emoji need them)
    | frozenset("\u200b\u2060\ufeff\u180e\u2061\u2062\u2063\u2064\ufff9\ufffa\ufffb")
    | frozenset(chr(c) for c in range(0x206A, 0x2070))
    | frozenset(chr(c) for c in range(0xD800, 0xE000))
)


def normalise(value: str) -> str:
    """The NFC form of `value`: a decomposed "é" (e + U+0301) is kept, compared and searched as the composed
    one."""
    return unicodedata.normalize("NFC", value)


def check_text(value: str, *, field: str) -> None:
    """ValidationError when `value` holds a control character (but tab and line breaks), a bidi override, an
    invisible separator (zero-width space, word joiner, BOM) or a lone surrogate."""
    for char in value:
        if char in _FORBIDDEN:
            raise ValidationError(
                f"{field} contains U+{ord(char):04X}, a control, invisible or invalid character", field=field
            )


def check_year(value: date | datetime, *, field: str) -> None:
    """ValidationError when a date or instant is outside the years 1900–2999."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(f"{field} must be between the years {FIRST_YEAR} and {LAST_YEAR}", field=field)


def clean_title(value: str) -> str:
    """Trimmed NFC title of 1–500 characters without control characters; ValidationError(field="title")."""
    check_text(value, field="title")
    title = normalise(value).strip()
    if not title:
        raise ValidationError("title must not be empty", field="title")
    if len(title) > TITLE_MAX:
        raise ValidationError(f"title is longer than {TITLE_MAX} characters", field="title")
    return title


def tag_form(raw: str) -> str:
    """The form a tag is kept and compared in: NFC, trimmed, without a leading '#', lower-cased."""
    return normalise(normalise(raw).strip().lstrip("#").strip().lower())


def clean_tags(values: list[str]) -> list[str]:
    """Tags in their kept form (tag_form), de-duplicated in order; at most 20 of ≤ 64 chars."""
    seen: list[str] = []
    for raw in values:
        tag = tag_form(raw)
        if not tag:
            raise ValidationError("tags must not be empty", field="tags")
        if len(tag) > TAG_MAX or any(c.isspace() for c in tag):
            raise ValidationError(
                f"tag {raw!r} must be one word of at most {TAG_MAX} characters", field="tags"
            )
        check_text(tag, field="tags")
        if tag not in seen:
            seen.append(tag)
    if len(seen) > TAGS_MAX:
        raise ValidationError(f"at most {TAGS_MAX} tags per task", field="tags")
    return seen


@dataclass(frozen=True)
class Due:
    """When a task is due: a UTC instant (timed) or a date (all-day), never both."""

    at: datetime | None = None
    on: date | None = None

    def __post_init__(self) -> None:
        if self.at is not None and self.on is not None:
            raise ValidationError("give due_at or due_date, not both", field="due_at")
        if self.at is not None and self.at.tzinfo is None:
            raise ValidationError("due_at needs a UTC offset (RFC 3339)", field="due_at")

    @property
    def is_set(self) -> bool:
        """True when the task has a due time or date."""
        return self.at is not None or self.on is not None

    def local(self, tz: ZoneInfo) -> datetime | date | None:
        """The due as the user sees it: the instant in `tz`, or the date."""
        return self.at.astimezone(tz) if self.at is not None else self.on

    def sort_key(self, tz: ZoneInfo) -> datetime | None:
        """UTC instant used to sort and filter: due_at, or 00:00 of due_date in the task's zone."""
        if self.at is not None:
            return self.at.astimezone(UTC)
        if self.on is not None:
            return datetime.combine(self.on, time(0), tz).astimezone(UTC)
        return None

    def wall_clock(self, tz: ZoneInfo) -> datetime | None:
        """The due on the wall clock of `tz` (naive): the instant's local time, or 00:00 of the date."""
        if self.at is not None:
            return self.at.astimezone(tz).replace(tzinfo=None)
        return datetime.combine(self.on, time(0)) if self.on is not None else None

    def occurrence_key(self) -> str | None:
        """Stable text key of this occurrence: ISO date for all-day, ISO UTC instant for timed."""
        if self.at is not None:
            return self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.on is not None:
            return self.on.isoformat()
        return None


@dataclass(frozen=True)
class ReminderSpec:
    """A reminder as the user asked for it: `before` the due time, or `at` an absolute instant."""

    before: Offset | None = None
    at: datetime | None = None

    def fire_at(self, due: Due, tz: ZoneInfo, *, all_day_at: time = ALL_DAY_AT) -> datetime:
        """The UTC instant this reminder fires for `due` (RFC 5545 durations: days on the wall clock of `tz`,
        hours as elapsed time); an all-day task's reminders count from `all_day_at` on its date.

        Raises ValidationError(field="reminders") for a relative reminder on a task without a due time.
        """
        if self.at is not None:
            return self.at.astimezone(UTC)
        assert self.before is not None
        if due.at is not None:
            return self.before.before(due.at, tz)
        if due.on is not None:
            return self.before.before(datetime.combine(due.on, all_day_at, tz), tz)
        raise ValidationError("a reminder relative to the due time needs a due time", field="reminders")


def check_reminders(specs: list[ReminderSpec], due: Due) -> None:
    """ValidationError(field="reminders") when there are too many or a relative one lacks a due time."""
    if len(specs) > REMINDERS_MAX:
        raise ValidationError(f"at most {REMINDERS_MAX} reminders per task", field="reminders")
    for index, spec in enumerate(specs):
        if spec.before is not None and not due.is_set:
            raise ValidationError(
                "a reminder relative to the due time needs due_at or due_date",
                field=f"reminders.{index}.before",
            )
        if spec.before is not None and not timedelta(0) <= spec.before.length <= BEFORE_MAX:
            raise ValidationError("before must be between PT0S and P366D", field=f"reminders.{index}.before")
        if spec.at is not None:
            check_year(spec.at, field=f"reminders.{index}.at")
