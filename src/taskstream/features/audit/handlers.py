"""task-events → audit log entries (one per event id)."""

from __future__ import annotations

from taskstream.domain.clock import Clock
from taskstream.events.envelope import CloudEvent
from taskstream.events.payloads import ACCOUNT_DELETED, TASK_EVENT_TYPES, AccountDeletedData, TaskEventData
from taskstream.store.tables import AuditEntry
from taskstream.store.uow import UnitOfWork

CONSUMER = "audit"
_KNOWN = set(TASK_EVENT_TYPES.values())


class AuditHandlers:
    """Handlers of the audit service."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def handle(self, uow: UnitOfWork, event: CloudEvent) -> None:
        """Append one entry for a task event; forget the user whose account was deleted; ignore the rest."""
        if event.type == ACCOUNT_DELETED:
            await uow.audit.forget(AccountDeletedData.model_validate(event.data).user_id)
            return
        if event.type not in _KNOWN:
            return
        data = TaskEventData.model_validate(event.data)
        uow.audit.add(
            AuditEntry(
                event_id=event.id,
                user_id=data.user_id,
                task_id=data.task_id,
                event_type=data.event_type,
                title=data.task_data.title,
                changes=data.changes,
                actor=data.actor,
                occurred_at=event.time,
                recorded_at=self._clock.now(),
            )
        )
