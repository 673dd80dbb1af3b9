"""SQL of the audit feature."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.tables import AuditEntry


class AuditRepository:
    """The append-only history of task changes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        """Append an entry (the table is never updated)."""
        self.session.add(entry)

    async def recent(
        self, user_id: str, *, task_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[AuditEntry]:
        """The user's entries, newest first; optionally one task's only."""
        stmt = select(AuditEntry).where(AuditEntry.user_id == user_id)
        if task_id is not None:
            stmt = stmt.where(AuditEntry.task_id == task_id)
        if before_id is not None:
            stmt = stmt.where(AuditEntry.id < before_id)
        return list(await self.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))

    async def forget(self, user_id: str) -> None:
        """Delete every entry of the user (the account was deleted), those added in this transaction too."""
        await self.session.flush()  # entries of the same batch, added before the deletion arrived
        await self.session.execute(delete(AuditEntry).where(AuditEntry.user_id == user_id))

    async def all_of(self, user_id: str) -> list[AuditEntry]:
        """Every entry of the user, oldest first (their data export)."""
        return list(
            await self.session.scalars(
                select(AuditEntry).where(AuditEntry.user_id == user_id).order_by(AuditEntry.id)
            )
        )
