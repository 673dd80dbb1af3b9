"""task-events → next occurrence of a recurring task, exactly once per series and occurrence."""

from __future__ import annotations

from datetime import date, datetime

from taskstream.domain import recurrence as rec
from taskstream.domain.clock import Clock
from taskstream.domain.tasks import Due
from taskstream.events.envelope import CloudEvent
from taskstream.events.payloads import TASK_COMPLETED, TaskEventData
from taskstream.features.tasks.service import TaskService, parse_anchor
from taskstream.store.uow import UnitOfWork

CONSUMER = "recurring"


class RecurringHandlers:
    """Handlers of the recurring service, by event type."""

    def __init__(self, tasks: TaskService, clock: Clock) -> None:
        self._tasks = tasks
        self._clock = clock

    async def handle(self, uow: UnitOfWork, event: CloudEvent) -> None:
        """Dispatch by type; other types are ignored."""
        if event.type == TASK_COMPLETED:
            await self.on_completed(uow, TaskEventData.model_validate(event.data))

    async def on_completed(self, uow: UnitOfWork, data: TaskEventData) -> None:
        """Create the occurrence that follows the completed one (none when the series ended or it exists)."""
        task = data.task_data
        if not task.recurrence or task.completed_at is None:
            return
        current: datetime | date | None = task.due_at or task.due_date
        if current is None:
            return
        stored = await uow.tasks.get_any(task.id)
        anchor_text = stored.series_anchor if stored is not None and stored.series_anchor else None
        anchor = parse_anchor(anchor_text) if anchor_text else current
        series = rec.Series(
            rrule=task.recurrence,
            anchor=anchor,
            tz=task.timezone,
            repeat_from=task.repeat_from,
            keep_missed=task.keep_missed,
        )
        nxt = rec.next_occurrence(
            series, current=current, completed_at=task.completed_at, now=self._clock.now()
        )
        if nxt is None:
            return
        due = Due(at=nxt) if isinstance(nxt, datetime) else Due(on=nxt)
        await self._tasks.create_next_occurrence(uow, task, due)
