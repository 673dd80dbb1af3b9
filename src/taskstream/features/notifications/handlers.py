"""reminders → in-app notification (at most one per task, reminder and occurrence) → task-updates push."""

from __future__ import annotations

import uuid

from taskstream.domain.clock import Clock
from taskstream.domain.tasks import Due
from taskstream.events import topics
from taskstream.events.envelope import CloudEvent, make_event
from taskstream.events.payloads import (
    ACCOUNT_DELETED,
    NOTIFICATION_CREATED,
    REMINDER_DUE,
    AccountDeletedData,
    NotificationData,
    ReminderDueData,
)
from taskstream.metrics import REMINDER_LATENESS
from taskstream.store.tables import Notification
from taskstream.store.uow import UnitOfWork
from taskstream.tracing import current_traceparent

CONSUMER = "notifications"


class NotificationHandlers:
    """Handlers of the notification service."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def prefetch(self, uow: UnitOfWork, events: list[CloudEvent]) -> object:
        """Load the tasks of a batch of reminder events in one query (Consumer holds them until commit)."""
        ids = [str(e.data["task_id"]) for e in events if e.type == REMINDER_DUE and "task_id" in e.data]
        return await uow.tasks.load(ids)

    @staticmethod
    def acts_on(event: CloudEvent) -> bool:
        """The events `handle` acts on: reminder.due and account.deleted (the task events on the reminders
        topic need no transaction)."""
        return event.type in (REMINDER_DUE, ACCOUNT_DELETED)

    async def handle(self, uow: UnitOfWork, event: CloudEvent) -> None:
        """Dispatch by type; other types are ignored."""
        if event.type == REMINDER_DUE:
            await self.on_reminder_due(uow, ReminderDueData.model_validate(event.data), event)
        elif event.type == ACCOUNT_DELETED:
            await uow.notifications.forget(AccountDeletedData.model_validate(event.data).user_id)

    async def on_reminder_due(self, uow: UnitOfWork, data: ReminderDueData, event: CloudEvent) -> None:
        """Store the notification and push it, unless the task was completed, deleted or moved meanwhile."""
        task = await uow.tasks.get_any(data.task_id)
        if task is None or task.completed:
            return
        if Due(at=task.due_at, on=task.due_date).occurrence_key() != data.occurrence_key:
            return
        now = self._clock.now()
        notification = Notification(
            id=str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"{data.task_id}/{data.reminder_id}/{data.occurrence_key}")
            ),
            user_id=data.user_id,
            task_id=data.task_id,
            reminder_id=data.reminder_id,
            occurrence_key=data.occurrence_key,
            title=data.title,
            due_at=data.due_at,
            remind_at=data.remind_at,
            created_at=now,
            read_at=None,
        )
        if not await uow.notifications.add_once(notification):
            return
        REMINDER_LATENESS.labels("delivered").observe(max(0.0, (now - data.remind_at).total_seconds()))
        payload = NotificationData(
            id=notification.id,
            task_id=data.task_id,
            title=data.title,
            due_at=data.due_at,
            remind_at=data.remind_at,
            user_id=data.user_id,
            created_at=now,
        )
        uow.outbox.append(
            make_event(
                NOTIFICATION_CREATED,
                subject=data.task_id,
                partitionkey=data.user_id,
                data=payload.model_dump(mode="json"),
                time=now,
                traceparent=current_traceparent() or event.traceparent,  # the consumer span, when traced
            ),
            topics.TASK_UPDATES,
        )
