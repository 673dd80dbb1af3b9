"""Tags, audit log, notifications and natural-language parsing."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from taskstream.api.deps import Ctx, CurrentUser
from taskstream.api.schemas import (
    AuditOut,
    NotificationOut,
    ParseIn,
    RecurrencePreviewIn,
    RecurrencePreviewOut,
    SnoozeIn,
    TagOut,
)
from taskstream.domain import nlparse, recurrence
from taskstream.domain.errors import NotFound, ValidationError
from taskstream.store.tables import Reminder

router = APIRouter()


@router.get("/tags", tags=["tasks"])
async def list_tags(ctx: Ctx, user: CurrentUser) -> list[TagOut]:
    """The caller's tags with open and total task counts."""
    async with ctx.uow.reader() as uow:
        rows = await uow.tasks.tag_counts(user.id)
    return [TagOut(name=name, open_count=n_open, total_count=n_all) for name, n_open, n_all in rows]


@router.get("/audit", tags=["audit"])
async def audit_log(
    ctx: Ctx,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: int | None = None,
) -> list[AuditOut]:
    """The caller's history of task events, newest first; page with before_id."""
    async with ctx.uow.reader() as uow:
        entries = await uow.audit.recent(user.id, limit=limit, before_id=before_id)
    return [AuditOut.model_validate(e, from_attributes=True) for e in entries]


@router.get("/notifications", tags=["notifications"])
async def list_notifications(
    ctx: Ctx, user: CurrentUser, unread: bool = False, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationOut]:
    """The caller's in-app notifications, newest first."""
    async with ctx.uow.reader() as uow:
        rows = await uow.notifications.recent(user.id, unread_only=unread, limit=limit)
    return [NotificationOut.model_validate(n, from_attributes=True) for n in rows]


@router.post("/notifications/{notification_id}/read", tags=["notifications"])
async def read_notification(notification_id: str, ctx: Ctx, user: CurrentUser) -> NotificationOut:
    """Mark a notification read (idempotent)."""
    async with ctx.uow() as uow:
        row = await uow.notifications.get(notification_id, user_id=user.id)
        if row is None:
            raise NotFound("notification not found", field="id")
        if row.read_at is None:
            row.read_at = ctx.clock.now()
            await uow.commit()
        return NotificationOut.model_validate(row, from_attributes=True)


@router.post("/notifications/{notification_id}/snooze", tags=["notifications"])
async def snooze_notification(
    notification_id: str, body: SnoozeIn, ctx: Ctx, user: CurrentUser
) -> NotificationOut:
    """Remind again after `for` (ISO 8601 duration); the notification is marked read."""
    async with ctx.uow() as uow:
        row = await uow.notifications.get(notification_id, user_id=user.id)
        if row is None:
            raise NotFound("notification not found", field="id")
        task = await uow.tasks.get(row.task_id, user_id=user.id)
        if task is None:
            raise NotFound("the task of this notification no longer exists", field="id")
        now = ctx.clock.now()
        fire_at = now + body.for_
        uow.reminders.add_all(
            [
                Reminder(
                    id=str(uuid.uuid4()),
                    task_id=task.id,
                    user_id=user.id,
                    kind="snooze",
                    offset_s=None,
                    at=fire_at,
                    position=1000,
                    fire_at=fire_at,
                    state="pending",
                    fired_at=None,
                )
            ]
        )
        row.read_at = row.read_at or now
        await uow.commit()
        out = NotificationOut.model_validate(row, from_attributes=True)
    for wake in ctx.wake_scheduler:
        wake()  # type: ignore[operator]
    return out


@router.post("/recurrence/preview", tags=["tasks"])
async def recurrence_preview(body: RecurrencePreviewIn, user: CurrentUser) -> RecurrencePreviewOut:
    """RFC 5545 rule → canonical form, words and the next occurrences from the first due (UTC or dates)."""
    tz = body.timezone or user.timezone
    first = body.due_at.astimezone(recurrence.zone_of(tz)) if body.due_at is not None else body.due_date
    if first is None:
        raise ValidationError("give due_at or due_date: the first occurrence of the series", field="due_at")
    series = recurrence.Series(rrule=body.recurrence, anchor=first, tz=tz, repeat_from=body.repeat_from)
    return RecurrencePreviewOut(
        recurrence=series.rrule,
        text=recurrence.describe(series.rrule),
        occurrences=recurrence.occurrences(series, count=body.count),
    )


@router.post("/parse", tags=["tasks"])
async def parse(body: ParseIn, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Natural-language quick add: the task fields understood, and what was not."""
    result = nlparse.parse_quick_add(body.text, now=ctx.clock.now(), tz=user.timezone)
    return {
        "title": result.title,
        "due_at": result.due_at.isoformat() if result.due_at else None,
        "due_date": result.due_date.isoformat() if result.due_date else None,
        "recurrence": result.recurrence,
        "repeat_from": result.repeat_from,
        "priority": result.priority,
        "tags": result.tags,
        "reminders": result.reminders,
        "unparsed": result.unparsed,
    }
