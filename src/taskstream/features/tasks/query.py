"""A list request of the task use cases, already validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from taskstream.domain.tasks import Sort


@dataclass
class TaskQuery:
    """A list request, already validated: every filter applies to the caller's tasks only."""

    user_id: str
    q: str | None = None
    completed: bool | None = None
    priorities: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    due_before: tuple[datetime, date] | None = None  # (instant for timed tasks, date for all-day tasks)
    due_after: tuple[datetime, date] | None = None
    overdue_at: tuple[datetime, date] | None = None  # overdue as of (now, today in the caller's zone)
    sort: Sort = "due"
    limit: int = 50
    after: tuple[object, str] | None = None  # keyset cursor: (sort value, task id)
