"""Versioned payload models (the `data` of each CloudEvent type) and the event type names.

Consumers ignore unknown fields and unknown types. A breaking change gets a new `.vN` type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from taskstream.domain.tasks import PriorityLabel

PREFIX = "com.taskstream"
TASK_CREATED = f"{PREFIX}.task.created.v1"
TASK_UPDATED = f"{PREFIX}.task.updated.v1"
TASK_COMPLETED = f"{PREFIX}.task.completed.v1"
TASK_REOPENED = f"{PREFIX}.task.reopened.v1"
TASK_DELETED = f"{PREFIX}.task.deleted.v1"
TASK_RESTORED = f"{PREFIX}.task.restored.v1"
REMINDER_DUE = f"{PREFIX}.reminder.due.v1"
NOTIFICATION_CREATED = f"{PREFIX}.notification.created.v1"
NOTIFICATION_READ = f"{PREFIX}.notification.read.v1"
SESSIONS_REVOKED = f"{PREFIX}.account.sessions_revoked.v1"
ACCOUNT_DELETED = f"{PREFIX}.account.deleted.v1"

TaskEventType = Literal["created", "updated", "completed", "reopened", "deleted", "restored"]
TASK_EVENT_TYPES: dict[str, str] = {
    "created": TASK_CREATED,
    "updated": TASK_UPDATED,
    "completed": TASK_COMPLETED,
    "reopened": TASK_REOPENED,
    "deleted": TASK_DELETED,
    "restored": TASK_RESTORED,
}


RepeatFrom = Literal["due", "completion"]
ReminderState = Literal["pending", "fired", "cancelled"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReminderView(_Payload):
    """A reminder of a task: `before` (ISO 8601 duration) or `at` (RFC 3339), and when it fires (UTC)."""

    id: str
    before: str | None = None
    at: datetime | None = None
    fire_at: datetime | None = None
    state: ReminderState = "pending"


class TaskView(_Payload):
    """The full task snapshot in `task_data` of task events (docs/events.md)."""

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
    reminders: list[ReminderView] = []
    estimate_minutes: int | None = None  # expected duration in minutes, 1–1440
    # The due the series' rule counts from (ISO local time with offset, or a date); recurring tasks only.
    series_anchor: str | None = None


class TaskEventData(_Payload):
    """`data` of com.taskstream.task.*.v1 on task-events and task-updates."""

    event_type: TaskEventType
    task_id: str
    user_id: str
    timestamp: datetime
    task_data: TaskView
    changes: dict[str, Any] = {}  # field → {"old": …, "new": …} for updates
    actor: str = "user"  # "user" or the service that caused the change ("recurring")


class ReminderDueData(_Payload):
    """`data` of com.taskstream.reminder.due.v1 on reminders."""

    task_id: str
    title: str
    due_at: str | None  # RFC 3339 instant or ISO date (all-day), as the task has it
    remind_at: datetime
    user_id: str
    reminder_id: str
    occurrence_key: str


class NotificationData(_Payload):
    """`data` of com.taskstream.notification.created.v1 on task-updates (pushed to the user's clients)."""

    id: str
    task_id: str
    title: str
    due_at: str | None
    remind_at: datetime
    user_id: str
    created_at: datetime


class NotificationReadData(_Payload):
    """`data` of com.taskstream.notification.read.v1 on task-updates: a notification was marked read (or
    snoozed, which marks it read), so the user's other windows update their badge and list."""

    id: str
    task_id: str
    user_id: str
    read_at: datetime


class SessionsRevokedData(_Payload):
    """`data` of com.taskstream.account.sessions_revoked.v1 on task-updates: close these sessions' sockets.

    `sessions` lists the revoked session ids; `reason` is "logout", "everywhere", "password" or "reuse".
    """

    user_id: str
    sessions: list[str]
    reason: str
    timestamp: datetime


class AccountDeletedData(_Payload):
    """`data` of com.taskstream.account.deleted.v1 on task-events, reminders and task-updates: every service
    forgets the user (audit entries, notifications, open sockets)."""

    user_id: str
    timestamp: datetime
