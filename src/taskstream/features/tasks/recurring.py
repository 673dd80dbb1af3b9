"""task-events → next occurrence of a recurring task, exactly once per series and occurrence."""

from __future__ import annotations

from taskstream.events.envelope import CloudEvent
from taskstream.events.payloads import TASK_COMPLETED, TaskEventData
from taskstream.features.tasks.service import TaskService
from taskstream.features.tasks.views import task_from_payload
from taskstream.store.uow import UnitOfWork

CONSUMER = "recurring"


class RecurringHandlers:
    """Handlers of the recurring service, by event type."""

    def __init__(self, tasks: TaskService) -> None:
        self._tasks = tasks

    @staticmethod
    def acts_on(event: CloudEvent) -> bool:
        """A completion of a task that may repeat: any task.completed but one whose task_data says it has
        no recurrence (the others need no transaction; malformed data still reaches `handle`)."""
        if event.type != TASK_COMPLETED:
            return False
        task = event.data.get("task_data")
        return not (isinstance(task, dict) and "recurrence" in task and task["recurrence"] is None)

    async def handle(self, uow: UnitOfWork, event: CloudEvent) -> None:
        """Dispatch by type; other types are ignored."""
        if event.type == TASK_COMPLETED:
            await self.on_completed(uow, TaskEventData.model_validate(event.data))

    async def on_completed(self, uow: UnitOfWork, data: TaskEventData) -> None:
        """Create the occurrence that follows the completed one (none when the series ended or it exists).

        Everything needed is in the event, the series anchor included: the api's rows are not read.
        """
        await self._tasks.create_next_occurrence(uow, task_from_payload(data.task_data))
