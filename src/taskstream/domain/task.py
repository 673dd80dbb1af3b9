"""The task entity: a task, its tags and reminders, and every rule that changes them.

Plain Python: no ORM, no pydantic. The store maps it to tables, the API and the events build their own
shapes from it. Each change returns the TaskEvent it caused (None when nothing changed), for the use case
to write to the outbox with the task.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from taskstream.domain import recurrence as rec
from taskstream.domain.durations import Offset
from taskstream.domain.errors import ValidationError
from taskstream.domain.tasks import (
    ALL_DAY_AT,
    DESCRIPTION_MAX,
    ESTIMATE_MAX,
    Due,
    Priority,
    ReminderSpec,
    check_reminders,
    check_text,
    check_year,
    clean_tags,
    clean_title,
    normalise,
    zone,
)

UNSET: Any = object()
TaskEventKind = Literal["created", "updated", "completed", "reopened", "deleted", "restored"]
ReminderKind = Literal["before", "at", "snooze"]
ReminderState = Literal["pending", "fired", "cancelled"]


@dataclass
class TaskChanges:
    """The fields a user gives: all of them on create (defaults apply), only those sent on update (UNSET)."""

    title: str = UNSET
    description: str | None = UNSET
    priority: str = UNSET
    tags: list[str] = UNSET
    due_at: datetime | None = UNSET
    due_date: date | None = UNSET
    timezone: str | None = UNSET
    recurrence: str | None = UNSET
    repeat_from: str = UNSET
    keep_missed: bool = UNSET
    reminders: list[ReminderSpec] = UNSET
    estimate_minutes: int | None = UNSET

    def given(self) -> dict[str, Any]:
        """The fields that were supplied."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


@dataclass
class TaskReminder:
    """One reminder: `before` the due time, `at` an instant, or a snooze (at an instant, not shown)."""

    id: str
    kind: ReminderKind
    before: Offset | None
    at: datetime | None
    position: int
    fire_at: datetime | None
    state: ReminderState = "pending"
    fired_at: datetime | None = None

    @property
    def spec(self) -> ReminderSpec:
        """The reminder as the user asked for it."""
        return ReminderSpec(before=self.before) if self.kind == "before" else ReminderSpec(at=self.at)


@dataclass(frozen=True)
class TaskEvent:
    """What a change did: its kind, the task after it, the task before it (updates) and the fields that
    changed (names of Task fields; "reminders" for the visible reminders)."""

    kind: TaskEventKind
    task: Task
    before: Task | None = None
    changed: tuple[str, ...] = ()
    actor: str = "user"  # or the service that caused it ("recurring")


# Compared to tell whether an update changed anything; version and updated_at follow from it.
_COMPARED = (
    "title",
    "description",
    "priority",
    "tags",
    "due",
    "timezone",
    "recurrence",
    "repeat_from",
    "keep_missed",
    "completed",
    "estimate_minutes",
)


@dataclass
class Task:
    """A task of one user; an occurrence of a series when `recurrence` is set (series_id names it)."""

    id: str
    user_id: str
    series_id: str
    title: str
    timezone: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    priority: Priority = Priority.NONE
    due: Due = field(default_factory=Due)
    recurrence: str | None = None  # RFC 5545 RRULE, normalized
    repeat_from: str = "due"  # "due" or "completion"
    keep_missed: bool = False
    occurrence_key: str | None = None
    series_anchor: datetime | date | None = None  # the due the rule counts from (local time or date)
    completed: bool = False
    completed_at: datetime | None = None
    version: int = 1
    tags: list[str] = field(default_factory=list)
    reminders: list[TaskReminder] = field(default_factory=list)
    estimate_minutes: int | None = None

    # -- changes ---------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        user_id: str,
        changes: TaskChanges,
        *,
        default_tz: str,
        now: datetime,
        all_day_at: time = ALL_DAY_AT,
    ) -> TaskEvent:
        """A new task from `changes`; ValidationError names the first bad field. Reminders of an all-day task
        count from `all_day_at` (the user's time of day for them) on its date."""
        task_id = str(uuid.uuid4())
        task = cls(id=task_id, user_id=user_id, series_id=task_id, title="", timezone=default_tz,
                   created_at=now, updated_at=now)  # fmt: skip
        given = changes.given()
        if "title" not in given:
            raise ValidationError("title is required", field="title")
        if given.get("timezone") is None:
            given.pop("timezone", None)
        task._apply(given)
        task._reanchor()
        specs = given.get("reminders") or []
        check_reminders(specs, task.due)
        task.tags = clean_tags(given.get("tags") or [])
        task.reminders = task._reminders_for(specs, now=now, all_day_at=all_day_at)
        return TaskEvent("created", task)

    def change(
        self, changes: TaskChanges, *, now: datetime, all_day_at: time = ALL_DAY_AT
    ) -> TaskEvent | None:
        """Apply the given fields; None when that changes nothing (the version stays)."""
        before = self.copy()
        given = changes.given()
        self._apply(given)
        due_changed = (before.due, before.timezone) != (self.due, self.timezone)
        if due_changed or "recurrence" in given:
            self._reanchor()
        if "tags" in given:
            self.tags = clean_tags(given["tags"])
        if "reminders" in given:
            check_reminders(given["reminders"], self.due)
            self.reminders = self._reminders_for(given["reminders"], now=now, all_day_at=all_day_at)
        elif due_changed:
            check_reminders([r.spec for r in self.reminders if r.kind != "snooze"], self.due)
            self._move_reminders(now=now, all_day_at=all_day_at)
        changed = tuple(name for name in _COMPARED if getattr(before, name) != getattr(self, name))
        if _visible(before.reminders) != _visible(self.reminders):
            changed += ("reminders",)
        if not changed:
            return None
        self.version += 1
        self.updated_at = now
        return TaskEvent("updated", self, before=before, changed=changed)

    def complete(self, *, now: datetime) -> TaskEvent | None:
        """Mark done; its pending reminders will not fire. None when it was done already."""
        if self.completed:
            return None
        before = self.copy()
        self.completed, self.completed_at = True, now
        for reminder in self.reminders:
            if reminder.state == "pending":
                reminder.state = "cancelled"
        self._bump(now)
        return TaskEvent("completed", self, before=before, changed=("completed",))

    def reopen(self, *, now: datetime) -> TaskEvent | None:
        """Mark not done; reminders still ahead are scheduled again. None when it was not done."""
        if not self.completed:
            return None
        before = self.copy()
        self.completed, self.completed_at = False, None
        for reminder in self.reminders:
            if reminder.state == "cancelled" and reminder.fire_at is not None and reminder.fire_at > now:
                reminder.state = "pending"
        self._bump(now)
        return TaskEvent("reopened", self, before=before, changed=("completed",))

    def delete(self) -> TaskEvent:
        """The event of deleting this task (the store removes it with its tags and reminders)."""
        return TaskEvent("deleted", self)

    def restore(self, *, now: datetime) -> TaskEvent:
        """Bring this deleted task back as it was (same id, tags and reminders), one version later."""
        self._bump(now)
        return TaskEvent("restored", self)

    def next_occurrence(self, *, now: datetime, all_day_at: time = ALL_DAY_AT) -> TaskEvent | None:
        """The occurrence that follows this completed one (a new Task, created by "recurring"); None when
        the task does not recur, is not done, or the series ended."""
        if not self.recurrence or self.completed_at is None or not self.due.is_set:
            return None
        current = self.due.at or self.due.on
        assert current is not None
        series = rec.Series(
            rrule=self.recurrence,
            anchor=self.series_anchor or self.due.local(zone(self.timezone)) or current,
            tz=self.timezone,
            repeat_from=self.repeat_from,  # type: ignore[arg-type]
            keep_missed=self.keep_missed,
        )
        found = rec.next_occurrence(series, current=current, completed_at=self.completed_at, now=now)
        if found is None:
            return None
        due = Due(at=found) if isinstance(found, datetime) else Due(on=found)
        tz = zone(self.timezone)
        nxt = copy.deepcopy(self)
        nxt.id, nxt.due, nxt.occurrence_key = str(uuid.uuid4()), due, due.occurrence_key()
        nxt.completed, nxt.completed_at, nxt.version = False, None, 1
        nxt.created_at = nxt.updated_at = now
        specs = [r.spec if r.kind == "before" else ReminderSpec(at=_moved(r.at, self.due, due, tz))
                 for r in self.reminders if r.kind != "snooze"]  # fmt: skip
        nxt.reminders = nxt._reminders_for(specs, now=now, all_day_at=all_day_at)
        return TaskEvent("created", nxt, actor="recurring")

    def copy(self) -> Task:
        """An independent copy (its lists and reminders too)."""
        return copy.deepcopy(self)

    # -- rules -----------------------------------------------------------------------------------------

    def _bump(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now

    def _apply(self, given: dict[str, Any]) -> None:
        """Validate and set the scalar fields (tags and reminders are the caller's)."""
        if "title" in given:
            self.title = clean_title(given["title"] or "")
        if "description" in given:
            self.description = _clean_description(given["description"])
        if "priority" in given:
            self.priority = Priority.parse(given["priority"] or "")
        if "estimate_minutes" in given:
            self.estimate_minutes = _clean_estimate(given["estimate_minutes"])
        if "timezone" in given:
            self.timezone = given["timezone"] or self.timezone
        tz = zone(self.timezone)
        if "due_at" in given or "due_date" in given:
            self.due = _new_due(self.due, given)
        if "recurrence" in given:
            self.recurrence = rec.normalize_rrule(given["recurrence"]) if given["recurrence"] else None
        if "repeat_from" in given:
            if given["repeat_from"] not in ("due", "completion"):
                raise ValidationError("repeat_from must be due or completion", field="repeat_from")
            self.repeat_from = given["repeat_from"]
        if "keep_missed" in given:
            self.keep_missed = bool(given["keep_missed"])
        if self.recurrence:
            first = self.due.local(tz)
            if first is None:
                raise ValidationError("a recurring task needs due_at or due_date", field="recurrence")
            rec.Series(  # validates the rule against its first due (e.g. UNTIL before it)
                rrule=self.recurrence,
                anchor=first,
                tz=self.timezone,
                repeat_from=self.repeat_from,  # type: ignore[arg-type]
            )

    def _reanchor(self) -> None:
        """The series' fixed anchor is the due of the occurrence whose due or rule the user set."""
        recurring = bool(self.recurrence)
        self.occurrence_key = self.due.occurrence_key() if recurring else None
        self.series_anchor = self.due.local(zone(self.timezone)) if recurring else None

    def _reminders_for(
        self, specs: list[ReminderSpec], *, now: datetime, all_day_at: time
    ) -> list[TaskReminder]:
        due, tz = self.due, zone(self.timezone)
        made: list[TaskReminder] = []
        for position, spec in enumerate(specs):
            fire_at = spec.fire_at(due, tz, all_day_at=all_day_at)
            made.append(
                TaskReminder(
                    id=str(uuid.uuid4()),
                    kind="before" if spec.before is not None else "at",
                    before=spec.before,
                    at=spec.at.astimezone(UTC) if spec.at is not None else None,
                    position=position,
                    fire_at=fire_at,
                    state="pending" if fire_at > now and not self.completed else "cancelled",
                )
            )
        return made

    def _move_reminders(self, *, now: datetime, all_day_at: time) -> None:
        """A new due time: relative reminders move with it, a snooze is dropped."""
        due, tz = self.due, zone(self.timezone)
        kept: list[TaskReminder] = []
        for reminder in self.reminders:
            if reminder.kind == "snooze":
                continue
            if reminder.kind == "before":
                reminder.fire_at = reminder.spec.fire_at(due, tz, all_day_at=all_day_at)
                pending = reminder.fire_at > now and not self.completed
                reminder.state = "pending" if pending else "cancelled"
            kept.append(reminder)
        self.reminders = kept


def _visible(reminders: list[TaskReminder]) -> list[tuple[object, ...]]:
    """The reminders as the user set them: a new due moves their fire times, which is not a change of them."""
    return [(r.before, r.at) for r in reminders if r.kind != "snooze"]


def _clean_description(value: str | None) -> str | None:
    if value is not None:
        check_text(value, field="description")
        value = normalise(value)
        if len(value) > DESCRIPTION_MAX:
            raise ValidationError(
                f"description is longer than {DESCRIPTION_MAX} characters", field="description"
            )
    return value or None


def _clean_estimate(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= ESTIMATE_MAX:
        raise ValidationError(
            f"estimate_minutes must be between 1 and {ESTIMATE_MAX}", field="estimate_minutes"
        )
    return value


def _new_due(current: Due, given: dict[str, Any]) -> Due:
    """The due after an update that gave due_at and/or due_date (giving one clears the other)."""
    due_at = given.get("due_at", current.at if "due_date" not in given else None)
    due_date = given.get("due_date", current.on if "due_at" not in given else None)
    if given.get("due_at") is not None and given.get("due_date") is not None:
        raise ValidationError("give due_at or due_date, not both", field="due_date")
    if due_at is not None:
        if due_at.tzinfo is None:
            raise ValidationError("due_at needs a UTC offset (RFC 3339)", field="due_at")
        check_year(due_at, field="due_at")  # before the shift to UTC, which could leave the calendar
        due_at, due_date = due_at.astimezone(UTC), None
    for value, name in ((due_at, "due_at"), (due_date, "due_date")):
        if value is not None:
            check_year(value, field=name)
    return Due(at=due_at, on=due_date)


def _moved(at: datetime | None, old: Due, new: Due, tz: ZoneInfo) -> datetime:
    """An absolute reminder of the occurrence due `old`, moved to the one due `new` by the wall-clock
    distance between the two dues in `tz` (22:00 the evening before stays 22:00 across a DST change)."""
    assert at is not None
    old_local, new_local = old.wall_clock(tz), new.wall_clock(tz)
    if old_local is None or new_local is None:
        return at
    local = at.astimezone(tz).replace(tzinfo=None) + (new_local - old_local)
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)
