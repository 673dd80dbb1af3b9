"""Notification use cases: list, mark read, snooze."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from taskstream.domain.clock import Clock
from taskstream.domain.errors import NotFound
from taskstream.events import topics
from taskstream.events.envelope import make_event
from taskstream.events.payloads import NOTIFICATION_READ, NotificationReadData
from taskstream.store.tables import Notification
from taskstream.store.uow import UnitOfWork, UnitOfWorkFactory


class NotificationService:
    """The caller's in-app notifications. `wake_scheduler` (when this process runs the scheduler) is
    called after a snooze, so the new reminder fires on time without waiting for a poll."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, *, wake_scheduler: Callable[[], None] | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._wake_scheduler = wake_scheduler

    async def recent(self, user_id: str, *, unread_only: bool, limit: int) -> list[Notification]:
        """The user's notifications, newest first."""
        async with self._uow.reader() as uow:
            return await uow.notifications.recent(user_id, unread_only=unread_only, limit=limit)

    async def export(self, user_id: str) -> list[Notification]:
        """Every notification of the user, oldest first (their data export)."""
        async with self._uow.reader() as uow:
            return await uow.notifications.all_of(user_id)

    async def read(self, user_id: str, notification_id: str) -> Notification:
        """Mark read (idempotent); NotFound when missing or another user's."""
        async with self._uow() as uow:
            row = await self._owned(uow, user_id, notification_id)
            if row.read_at is None:
                self._mark_read(uow, row)
                await uow.commit()
            return row

    async def snooze(self, user_id: str, notification_id: str, delay: timedelta) -> Notification:
        """Remind again `delay` from now and mark the notification read; NotFound when it or its task is
        gone."""
        async with self._uow() as uow:
            row = await self._owned(uow, user_id, notification_id)
            task = await uow.tasks.get(row.task_id, user_id=user_id)
            if task is None:
                raise NotFound("the task of this notification no longer exists", field="id")
            now = self._clock.now()
            uow.reminders.add_snooze(task, fire_at=now + delay)
            if row.read_at is None:
                self._mark_read(uow, row)
            await uow.commit()
        if self._wake_scheduler is not None:
            self._wake_scheduler()
        return row

    def _mark_read(self, uow: UnitOfWork, row: Notification) -> None:
        """Mark `row` read and tell the user's windows (notification.read on task-updates, same commit)."""
        row.read_at = self._clock.now()
        data = NotificationReadData(id=row.id, task_id=row.task_id, user_id=row.user_id, read_at=row.read_at)
        event = make_event(
            NOTIFICATION_READ,
            subject=row.task_id,
            partitionkey=row.user_id,
            data=data.model_dump(mode="json"),
            time=row.read_at,
        )
        uow.outbox.append(event, topics.TASK_UPDATES)

    @staticmethod
    async def _owned(uow: UnitOfWork, user_id: str, notification_id: str) -> Notification:
        row = await uow.notifications.get(notification_id, user_id=user_id)
        if row is None:
            raise NotFound("notification not found", field="id")
        return row
