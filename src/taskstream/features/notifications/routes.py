"""In-app notifications: list, mark read, snooze."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from taskstream.api.deps import Ctx, CurrentUser
from taskstream.api.errors import responses
from taskstream.features.notifications.schemas import NotificationOut, SnoozeIn

router = APIRouter(tags=["notifications"], responses=responses(401, 422, 503))


@router.get(
    "/notifications",
)
async def list_notifications(
    ctx: Ctx, user: CurrentUser, unread: bool = False, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationOut]:
    """The caller's in-app notifications, newest first."""
    rows = await ctx.notifications.recent(user.id, unread_only=unread, limit=limit)
    return [NotificationOut.model_validate(n, from_attributes=True) for n in rows]


@router.post("/notifications/{notification_id}/read", responses=responses(404))
async def read_notification(notification_id: str, ctx: Ctx, user: CurrentUser) -> NotificationOut:
    """Mark a notification read (idempotent)."""
    row = await ctx.notifications.read(user.id, notification_id)
    return NotificationOut.model_validate(row, from_attributes=True)


@router.post("/notifications/{notification_id}/snooze", responses=responses(404, 413))
async def snooze_notification(
    notification_id: str, body: SnoozeIn, ctx: Ctx, user: CurrentUser
) -> NotificationOut:
    """Remind again after `for` (ISO 8601 duration); the notification is marked read."""
    row = await ctx.notifications.snooze(user.id, notification_id, body.for_)
    return NotificationOut.model_validate(row, from_attributes=True)
