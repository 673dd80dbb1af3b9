"""Audit use cases: the caller's history of task changes."""

from __future__ import annotations

from taskstream.domain.errors import NotFound
from taskstream.store.tables import AuditEntry
from taskstream.store.uow import UnitOfWorkFactory


class AuditService:
    """Reads the audit log (written only by the audit consumer)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def log(self, user_id: str, *, limit: int, before_id: int | None) -> list[AuditEntry]:
        """The user's entries, newest first; page with `before_id` (the last entry id seen)."""
        async with self._uow.reader() as uow:
            return await uow.audit.recent(user_id, limit=limit, before_id=before_id)

    async def export(self, user_id: str) -> list[AuditEntry]:
        """Every entry of the user, oldest first (their data export)."""
        async with self._uow.reader() as uow:
            return await uow.audit.all_of(user_id)

    async def task_history(self, user_id: str, task_id: str, *, limit: int = 200) -> list[AuditEntry]:
        """One task's entries, newest first (kept after the task is deleted); NotFound for a task the user
        never had."""
        async with self._uow.reader() as uow:
            entries = await uow.audit.recent(user_id, task_id=task_id, limit=limit)
            if not entries and await uow.tasks.get(task_id, user_id=user_id) is None:
                raise NotFound("task not found", field="id")
            return entries
