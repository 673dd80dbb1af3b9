"""SQL of the notifications feature."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.tables import Notification


class NotificationRepository:
    """Notifications a user sees; one per (task, reminder, occurrence)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_once(self, notification: Notification) -> bool:
        """Insert unless one exists for (task, reminder, occurrence); True when inserted."""
        exists = await self.session.scalar(
            select(Notification.id).where(
                Notification.task_id == notification.task_id,
                Notification.reminder_id == notification.reminder_id,
                Notification.occurrence_key == notification.occurrence_key,
            )
        )
        if exists is not None:
            return False
        self.session.add(notification)
        return True

    async def recent(self, user_id: str, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
        """The user's newest notifications first."""
        stmt = select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        stmt = stmt.order_by(Notification.created_at.desc(), Notification.id).limit(limit)
        return list(await self.session.scalars(stmt))

    async def get(self, notification_id: str, *, user_id: str) -> Notification | None:
        """The caller's notification, or None."""
        return await self.session.scalar(
            select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
        )

    async def forget(self, user_id: str) -> None:
        """Delete every notification of the user (the account was deleted), those added in this
        transaction too."""
        await self.session.flush()  # notifications of the same batch, added before the deletion arrived
        await self.session.execute(delete(Notification).where(Notification.user_id == user_id))

    async def all_of(self, user_id: str) -> list[Notification]:
        """Every notification of the user, oldest first (their data export)."""
        stmt = select(Notification).where(Notification.user_id == user_id)
        return list(await self.session.scalars(stmt.order_by(Notification.created_at, Notification.id)))
