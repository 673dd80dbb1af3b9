"""SQLAlchemy 2 tables. UUID string keys, timezone-aware UTC timestamps, named constraints."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC instants on every database (SQLite stores them as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite has no 64-bit autoincrement type distinct from INTEGER; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How the user writes numeric dates: "DMY", "MDY" or "YMD"; None until chosen (quick add reads DMY).
    date_order: Mapped[str | None] = mapped_column(String(3))  # migration 0012
    # "HH:MM": when reminders of the user's all-day tasks count from on their date (migration 0012).
    all_day_reminder_time: Mapped[str] = mapped_column(String(5), default="09:00", server_default="09:00")

    @property
    def all_day_at(self) -> time:
        """all_day_reminder_time as a time of day."""
        return time.fromisoformat(self.all_day_reminder_time or "09:00")


class Session(Base):
    """A signed-in device: its refresh token (SHA-256, rotated on each use) and whether it was revoked.

    Access tokens name their session (claim `sid`); a revoked or expired session refuses them and its
    refresh token.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class AuthThrottle(Base):
    """A fixed-window counter of sign-in or sign-up attempts for one key (an account or a client address)."""

    __tablename__ = "auth_throttle"
    __table_args__ = (Index("ix_auth_throttle_window_start", "window_start"),)

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("series_id", "occurrence_key"),
        Index("ix_tasks_user_completed_due", "user_id", "completed", "due_at"),
        Index("ix_tasks_user_created", "user_id", "created_at"),
        # Lists and searches in due order walk this (TaskViews._find_by_due in features/tasks);
        # priority is there so a priority filter is checked on the index entry (migration 0004).
        Index("ix_tasks_user_due_sort", "user_id", "due_sort", "id", "priority"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    series_id: Mapped[str] = mapped_column(String(36))
    occurrence_key: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_date: Mapped[date | None] = mapped_column(Date)
    # Sort key shared by timed and all-day tasks: due_at, or the start of due_date in the task's zone (UTC).
    due_sort: Mapped[datetime | None] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    recurrence: Mapped[str | None] = mapped_column(String(500))
    repeat_from: Mapped[str] = mapped_column(String(16), default="due")
    keep_missed: Mapped[bool] = mapped_column(Boolean, default=False)
    series_anchor: Mapped[str | None] = mapped_column(String(40))
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    estimate_minutes: Mapped[int | None] = mapped_column(Integer)  # migration 0006


class TaskTag(Base):
    __tablename__ = "task_tags"
    __table_args__ = (Index("ix_task_tags_user_tag", "user_id", "tag", "task_id"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    # Never loaded (lazy="raise"): declared so one flush inserts a new task before the rows that refer to it.
    task: Mapped[Task] = relationship(lazy="raise")


class Reminder(Base):
    """A durable reminder schedule row; the scheduler claims rows whose fire_at has come."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_state_fire_at", "state", "fire_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # "before" | "at" | "snooze"
    duration: Mapped[str | None] = mapped_column(String(32))  # RFC 5545, kind "before" (migration 0013)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    position: Mapped[int] = mapped_column(Integer, default=0)
    fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | fired | cancelled
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # W3C traceparent of the span that scheduled fire_at (None with tracing off): the firing links to it.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    task: Mapped[Task] = relationship(lazy="raise")  # as TaskTag.task: orders the inserts of one flush


class DeletedTask(Base):
    """A deleted task as it was (tags and reminders included), so Undo can restore it with the same id; the
    relay's cleanup forgets it after the outbox retention."""

    __tablename__ = "deleted_tasks"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("task_id", "reminder_id", "occurrence_key"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[str] = mapped_column(String(36))
    reminder_id: Mapped[str] = mapped_column(String(36))
    occurrence_key: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(500))
    due_at: Mapped[str | None] = mapped_column(String(40))
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    """An event committed with the change that caused it; the relay publishes it and marks it sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_sent_id", "sent_at", "id"), UniqueConstraint("event_id", "topic"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboxRow(Base):
    """(consumer, event id) recorded in the same transaction as the consumer's effect."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_processed_at", "processed_at"),)  # the cleanup deletes the oldest

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Append-only history of task events."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_user_id_seq", "user_id", "id"),
        Index("ix_audit_log_task_id_seq", "task_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[str] = mapped_column(String(36))
    task_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeadLetter(Base):
    """An event a consumer gave up on (embedded mode keeps its dead-letter topics here)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100))
    consumer: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
