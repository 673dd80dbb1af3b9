"""SQL of messaging: the inbox and dead letters (the outbox's is in outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.rows import insert_rows
from taskstream.store.tables import DeadLetter, InboxRow

INBOX = InboxRow.metadata.tables["inbox"]


class InboxRepository:
    """Which events each consumer processed (the inbox), for exactly-once effects."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._recorded: list[dict[str, Any]] = []

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
        """Stage the inbox row, inserted by write_recorded() when the change commits (UnitOfWork.commit),
        in one statement for all; the commit fails on the primary key if another delivery won the race."""
        self._recorded.append({"consumer": consumer, "event_id": event_id, "processed_at": at})

    async def write_recorded(self) -> None:
        """INSERT the rows staged since the last call (before the commit of their change)."""
        rows, self._recorded = self._recorded, []
        await insert_rows(self.session, {INBOX: rows})

    async def record(self, consumer: str, event_id: str, at: datetime) -> None:
        """Record the event as processed (same transaction as the effect), at once: AlreadyProcessed when
        another delivery recorded it first (the primary key)."""
        try:
            await insert_rows(
                self.session, {INBOX: [{"consumer": consumer, "event_id": event_id, "processed_at": at}]}
            )
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
