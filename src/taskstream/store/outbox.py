"""Transactional outbox: events appended in the change's transaction, read and marked sent by the relay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.events.envelope import CloudEvent
from taskstream.store.tables import OutboxRow

RELAY_LOCK_KEY = 0x7A5C_0002  # PostgreSQL advisory lock key: held by the relay that publishes right now


class OutboxRepository:
    """Outbox rows: append (in a use case's transaction), fetch unsent in order, mark sent, clean up."""

    def __init__(self, session: AsyncSession, *, on_append: Callable[[], None] = lambda: None) -> None:
        self.session = session
        self._on_append = on_append

    def append(self, topic: str, event: CloudEvent) -> None:
        """Add `event` for `topic`, keyed by its partition key; committed with the surrounding change."""
        self.session.add(
            OutboxRow(
                event_id=event.id,
                topic=topic,
                key=event.partitionkey,
                payload=event.to_json().decode(),
                created_at=event.time,
            )
        )
        self._on_append()

    async def try_lead(self) -> bool:
        """PostgreSQL: take the relay leader lock until this transaction ends (False: another relay has it).

        Other databases: always True (SQLite runs one relay process).
        """
        if self.session.get_bind().dialect.name != "postgresql":
            return True
        got = await self.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY}
        )
        return bool(got)

    async def unsent(self, limit: int) -> list[OutboxRow]:
        """The oldest `limit` unsent rows in insertion order (which is commit order per partition key)."""
        rows = await self.session.scalars(
            select(OutboxRow).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.id).limit(limit)
        )
        return list(rows)

    async def mark_sent(self, ids: list[int], at: datetime) -> None:
        """Record that rows `ids` reached the bus."""
        await self.session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(sent_at=at))

    async def delete_sent(self, *, older_than: datetime, limit: int = 1000) -> int:
        """Delete up to `limit` rows sent before `older_than`; returns how many."""
        ids = list(
            await self.session.scalars(
                select(OutboxRow.id).where(OutboxRow.sent_at < older_than).order_by(OutboxRow.id).limit(limit)
            )
        )
        if ids:
            await self.session.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))
        return len(ids)

    async def pending_count(self) -> int:
        """How many rows wait to be sent."""
        count = await self.session.scalar(select(func.count()).where(OutboxRow.sent_at.is_(None)))
        return int(count or 0)
