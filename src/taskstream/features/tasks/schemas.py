"""Request and response bodies of the task endpoints; 422 for anything that does not fit them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import JsonDict

from taskstream.domain.tasks import (
    DESCRIPTION_MAX,
    ESTIMATE_MAX,
    REMINDERS_MAX,
    TAGS_MAX,
    TITLE_MAX,
    PriorityLabel,
    normalise,
)

RepeatFrom = Literal["due", "completion"]
Estimate = Field(None, ge=1, le=ESTIMATE_MAX, description="expected duration in minutes")


def _not_null(schema: JsonDict) -> None:
    """JSON Schema of an optional field that may be left out but not sent as null: the null choice goes."""
    choices = schema.pop("anyOf", None)
    if isinstance(choices, list):
        kept = [c for c in choices if not (isinstance(c, dict) and c.get("type") == "null")]
        schema.update(kept[0] if len(kept) == 1 and isinstance(kept[0], dict) else {"anyOf": kept})


def _nfc(value: object) -> object:
    """Text (or a list of texts) in NFC, before its length is checked: the length is that of the text kept."""
    if isinstance(value, str):
        return normalise(value)
    if isinstance(value, list):
        return [normalise(item) if isinstance(item, str) else item for item in value]
    return value


class ReminderIn(BaseModel):
    """Exactly one of `before` (ISO 8601 duration before the due time) or `at` (RFC 3339 instant)."""

    model_config = ConfigDict(extra="forbid")
    before: str | None = Field(
        None,
        max_length=32,
        description='RFC 5545 duration, e.g. "PT15M", "P1D" (a calendar day: the same time the day before, '
        'also across a DST change) or "PT24H" (24 hours); at most P366D; given back as written',
    )
    at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ReminderIn:
        if (self.before is None) == (self.at is None):
            raise ValueError("give exactly one of before or at")
        return self


class TaskIn(BaseModel):
    """Body of POST /tasks; PATCH takes the same fields, all optional."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    priority: PriorityLabel = "none"
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    due_at: AwareDatetime | None = Field(None, description="RFC 3339 with offset")
    due_date: date | None = Field(None, description="YYYY-MM-DD, all-day")
    timezone: str | None = Field(None, max_length=64, description="IANA zone; default the user's")
    recurrence: str | None = Field(
        None, max_length=500, description='RFC 5545 RRULE value, e.g. "FREQ=WEEKLY;BYDAY=MO"'
    )
    repeat_from: RepeatFrom = "due"
    keep_missed: bool = False
    reminders: list[ReminderIn] = Field(default_factory=list, max_length=REMINDERS_MAX)
    estimate_minutes: int | None = Estimate

    _normalised = field_validator("title", "description", "tags", mode="before")(_nfc)


class TaskPatch(BaseModel):
    """Body of PATCH /tasks/{id}: the fields to change. Those a task always has (title, priority, tags,
    repeat_from, keep_missed, reminders) cannot be null; the others are cleared by null."""

    model_config = ConfigDict(extra="forbid")
    # None stands for "not given"; null is left out of their schema and refused (422) by the routes.
    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX, json_schema_extra=_not_null)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    priority: PriorityLabel | None = Field(None, json_schema_extra=_not_null)
    tags: list[str] | None = Field(None, max_length=TAGS_MAX, json_schema_extra=_not_null)
    due_at: AwareDatetime | None = None
    due_date: date | None = None
    timezone: str | None = Field(None, max_length=64)
    recurrence: str | None = Field(None, max_length=500)
    repeat_from: RepeatFrom | None = Field(None, json_schema_extra=_not_null)
    keep_missed: bool | None = Field(None, json_schema_extra=_not_null)
    reminders: list[ReminderIn] | None = Field(None, max_length=REMINDERS_MAX, json_schema_extra=_not_null)
    estimate_minutes: int | None = Estimate

    _normalised = field_validator("title", "description", "tags", mode="before")(_nfc)


class ReminderOut(BaseModel):
    """A reminder of a task: `before` (ISO 8601 duration) or `at` (RFC 3339), and when it fires (UTC)."""

    id: str
    before: str | None = None
    at: datetime | None = None
    fire_at: datetime | None = None
    state: Literal["pending", "fired", "cancelled"] = "pending"


class TaskOut(BaseModel):
    """A task as the API shows it."""

    id: str
    user_id: str
    title: str
    description: str | None = None
    priority: PriorityLabel = "none"
    tags: list[str] = []
    due_at: datetime | None = None
    due_date: date | None = None
    timezone: str
    recurrence: str | None = None
    repeat_from: RepeatFrom = "due"
    keep_missed: bool = False
    series_id: str
    completed: bool = False
    completed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int
    reminders: list[ReminderOut] = []
    estimate_minutes: int | None = None


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class TagOut(BaseModel):
    name: str
    open_count: int
    total_count: int


# A bound of a due filter: YYYY-MM-DD (00:00 in the caller's zone) or an RFC 3339 instant with its offset,
# in the years 1900-2999.
_DAY = r"(19\d\d|2\d\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)"
BOUND_PATTERN = f"^{_DAY}([Tt ]{_TIME})?$"


class CountFilters(BaseModel):
    """The filters of `GET /api/v1/tasks`, as a JSON object (one view of the task list); JSON types as they
    are (0 is not false)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    q: str | None = Field(None, max_length=200)
    completed: bool | None = None
    priority: list[Literal["none", "low", "medium", "high", "urgent"]] = Field(
        default_factory=list, max_length=5
    )
    tag: list[str] = Field(default_factory=list, max_length=20)
    due_before: str | None = Field(None, pattern=BOUND_PATTERN)
    due_after: str | None = Field(None, pattern=BOUND_PATTERN)
    overdue: bool | None = None


class CountsIn(BaseModel):
    """Named views to count, e.g. {"views": {"today": {"completed": false, "due_before": "2026-12-04"}}}."""

    model_config = ConfigDict(extra="forbid")
    views: dict[str, CountFilters] = Field(max_length=20)


class CountsOut(BaseModel):
    """Tasks per view (at most COUNT_CAP; a view at the cap has at least that many) and the tags."""

    counts: dict[str, int]
    cap: int
    tags: list[TagOut]


class ParseIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class RecurrencePreviewIn(BaseModel):
    """A rule and its first due, to see it in words and its next occurrences before saving."""

    model_config = ConfigDict(extra="forbid")
    recurrence: str = Field(min_length=1, max_length=500, description="RFC 5545 RRULE value")
    due_at: AwareDatetime | None = None
    due_date: date | None = None
    timezone: str | None = Field(None, max_length=64, description="IANA zone; default the user's")
    repeat_from: RepeatFrom = "due"
    count: int = Field(5, ge=1, le=50)


class RecurrencePreviewOut(BaseModel):
    recurrence: str = Field(description="the rule in canonical form")
    text: str = Field(description="the rule in words")
    occurrences: list[datetime | date] = Field(description="the first due and the ones after it")
