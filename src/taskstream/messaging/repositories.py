"""SQL of messaging: the inbox and dead letters (the outbox's is in outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.tables import DeadLetter, InboxRow


class InboxRepository:
    """Which events each consumer processed (the inbox), for exactly-once effects."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, consumer: str, event_id: str) -> bool:
        """True when `consumer` already processed `event_id`."""
        found = await self.session.get(InboxRow, (consumer, event_id))
        return found is not None

    async def seen_among(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` `consumer` already processed (one query)."""
        rows = await self.session.scalars(
            select(InboxRow.event_id).where(InboxRow.consumer == consumer, InboxRow.event_id.in_(event_ids))
        )
        return set(rows)

    def record_unflushed(self, consumer: str, event_id: str, at: datetime) -> None:
        """Stage the inbox row; the commit fails on the primary key if another delivery won the race."""
        self.session.add(InboxRow(consumer=consumer, event_id=event_id, processed_at=at))

    async def record(self, consumer: str, event_id: str, at: datetime) -> None:
        """Record the event as processed (same transaction as the effect); flushes to hit the key early."""
        self.session.add(InboxRow(consumer=consumer, event_id=event_id, processed_at=at))
        try:
            await self.session.flush()
        except IntegrityError as error:
            raise AlreadyProcessed(event_id) from error

    async def forget_older(self, *, older_than: datetime, limit: int = 1000) -> int:
        """Delete about `limit` of the oldest rows processed before `older_than` (all rows of the last
        instant deleted go, so a few more may); returns how many. A row goes only when no redelivery of its
        event can come any more: the caller chooses `older_than` beyond every redelivery window)."""
        last = await self.session.scalar(
            select(InboxRow.processed_at)
            .where(InboxRow.processed_at < older_than)
            .order_by(InboxRow.processed_at)
            .offset(limit - 1)
            .limit(1)
        )
        bound = InboxRow.processed_at < older_than if last is None else InboxRow.processed_at <= last
        result = await self.session.execute(delete(InboxRow).where(bound))
        return int(getattr(result, "rowcount", 0) or 0)


class AlreadyProcessed(Exception):
    """Another delivery of the same event committed first."""


class DeadLetterRepository:
    """Events a consumer gave up on."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, letter: DeadLetter) -> None:
        """Record a dead letter (committed with the unit of work)."""
        self.session.add(letter)
