"""The reminder scheduler: claims due reminder rows and emits reminder.due through the outbox."""

from __future__ import annotations

import asyncio
import uuid

import structlog
from opentelemetry.trace import Tracer

from taskstream.domain.clock import Clock
from taskstream.domain.errors import DependencyUnavailable
from taskstream.domain.tasks import Due
from taskstream.events import topics
from taskstream.events.envelope import make_event
from taskstream.events.payloads import REMINDER_DUE, ReminderDueData
from taskstream.features.tasks.repository import next_fire_at
from taskstream.metrics import REMINDER_LATENESS, REMINDERS_FIRED
from taskstream.store.uow import UnitOfWorkFactory
from taskstream.tracing import NO_TRACER, linked_root

log = structlog.get_logger(__name__)


class ReminderScheduler:
    """Fires each pending reminder once: the row turns `fired` in the same transaction as its outbox event.

    Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite serialises writers), so replicas never
    fire one twice. The event id is derived from (reminder, occurrence), so even a replay has one effect.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        poll_s: float = 1.0,
        batch: int = 500,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._uow = uow
        self._tracer = tracer  # each firing starts a trace linked to the one that scheduled the reminder
        self._clock = clock
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()
        self.fired = 0  # reminders this instance fired (committed); the metric counts per process

    def wake(self) -> None:
        """Look again now (a reminder may have been added)."""
        self._wake.set()

    async def run(self) -> None:
        """Loop until cancelled: claim when a reminder is due, else sleep until the next one, a wake-up or
        `poll_s`. A wake-up (any commit that wrote events) costs one read; only a due reminder takes a write
        transaction, so a burst of task changes does not queue claims behind the writers on SQLite."""
        while True:
            self._wake.clear()
            try:
                delay = await self._until_next()
                if delay <= 0:
                    if await self.fire_due():
                        continue
                    delay = min(self._poll_s, 0.05)  # due rows held by another replica (SKIP LOCKED)
            except DependencyUnavailable as error:
                log.warning("scheduler waits for the database", error=str(error))
                await asyncio.sleep(self._poll_s)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _until_next(self) -> float:
        """Seconds until the earliest pending reminder, at most poll_s (0 when one is due)."""
        async with self._uow.read_connection() as connection:
            nxt = await next_fire_at(connection)
        if nxt is None:
            return self._poll_s
        return max(0.0, min(self._poll_s, (nxt - self._clock.now()).total_seconds()))

    async def fire_due(self) -> int:
        """Claim and fire every reminder due now (one batch); returns how many rows were settled."""
        now = self._clock.now()
        async with self._uow() as uow:
            rows = await uow.reminders.claim_due(now, limit=self._batch)
            for row in rows:
                task = await uow.tasks.get_any(row.task_id)
                if task is None or task.completed:
                    row.state = "cancelled"
                    continue
                due = Due(at=task.due_at, on=task.due_date)
                occurrence = due.occurrence_key() or "none"
                row.state, row.fired_at = "fired", now
                assert row.fire_at is not None
                data = ReminderDueData(
                    task_id=task.id,
                    title=task.title,
                    due_at=task.due_at.isoformat()
                    if task.due_at
                    else (task.due_date.isoformat() if task.due_date else None),
                    remind_at=row.fire_at,
                    user_id=task.user_id,
                    reminder_id=row.id,
                    occurrence_key=occurrence,
                )
                event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"reminder/{row.id}/{occurrence}"))
                attributes = {"taskstream.reminder.id": row.id, "taskstream.task.id": task.id}
                with linked_root(self._tracer, "fire reminder", row.traceparent, attributes):
                    uow.outbox.append(
                        make_event(
                            REMINDER_DUE,
                            subject=task.id,
                            partitionkey=task.user_id,
                            data=data.model_dump(mode="json"),
                            time=now,
                            event_id=event_id,
                        ),
                        topics.REMINDERS,
                    )
            await uow.commit()
            fired = 0
            for row in rows:
                if row.state == "fired" and row.fire_at is not None:
                    fired += 1
                    REMINDER_LATENESS.labels("fired").observe(max(0.0, (now - row.fire_at).total_seconds()))
            REMINDERS_FIRED.inc(fired)
            self.fired += fired
            return len(rows)
