"""Task rules: priorities, titles, tags, due times (timed or all-day) and reminder fire times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskstream.domain.errors import ValidationError

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
TAG_MAX = 64
TAGS_MAX = 20
REMINDERS_MAX = 10


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


def clean_title(value: str) -> str:
    """Trimmed title of 1–500 characters; ValidationError(field="title") otherwise."""
    title = value.strip()
    if not title:
        raise ValidationError("title must not be empty", field="title")
    if len(title) > TITLE_MAX:
        raise ValidationError(f"title is longer than {TITLE_MAX} characters", field="title")
    return title


def clean_tags(values: list[str]) -> list[str]:
    """Tags trimmed, lower-cased, without a leading '#', de-duplicated in order; at most 20 of ≤ 64 chars."""
    seen: list[str] = []
    for raw in values:
        tag = raw.strip().lstrip("#").strip().lower()
        if not tag:
            raise ValidationError("tags must not be empty", field="tags")
        if len(tag) > TAG_MAX or any(c.isspace() for c in tag):
            raise ValidationError(
                f"tag {raw!r} must be one word of at most {TAG_MAX} characters", field="tags"
            )
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

    def sort_key(self, tz: ZoneInfo) -> datetime | None:
        """UTC instant used to sort and filter: due_at, or 00:00 of due_date in the task's zone."""
        if self.at is not None:
            return self.at.astimezone(UTC)
        if self.on is not None:
            return datetime.combine(self.on, time(0), tz).astimezone(UTC)
        return None

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

    before: timedelta | None = None
    at: datetime | None = None

    def fire_at(self, due: Due, tz: ZoneInfo, *, default_time: time = time(9, 0)) -> datetime:
        """The UTC instant this reminder fires for `due`; all-day tasks count from `default_time` local.

        Raises ValidationError(field="reminders") for a relative reminder on a task without a due time.
        """
        if self.at is not None:
            return self.at.astimezone(UTC)
        assert self.before is not None
        if due.at is not None:
            return due.at.astimezone(UTC) - self.before
        if due.on is not None:
            return datetime.combine(due.on, default_time, tz).astimezone(UTC) - self.before
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
        if spec.before is not None and spec.before < timedelta(0):
            raise ValidationError("before must not be negative", field=f"reminders.{index}.before")
