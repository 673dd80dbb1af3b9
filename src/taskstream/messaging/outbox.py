"""Transactional outbox: events appended in the change's transaction, read and marked sent by the relay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.events.envelope import CloudEvent
from taskstream.store.profile import DatabaseProfile
from taskstream.store.rows import insert_rows
from taskstream.store.tables import OutboxRow

RELAY_LOCK_KEY = 0x7A5C_0002  # PostgreSQL advisory lock key: held by the relay that publishes right now


class Pending(NamedTuple):
    """An unsent outbox row, as the relay publishes it."""

    id: int
    topic: str
    key: str
    payload: str


OUTBOX = OutboxRow.metadata.tables["outbox"]


def outbox_rows(event: CloudEvent, topics: Sequence[str]) -> list[dict[str, Any]]:
    """The outbox rows of `event` as column values, one per topic, keyed by its partition key (the JSON
    encoded once)."""
    payload = event.to_json().decode()
    return [
        {
            "event_id": event.id,
            "topic": topic,
            "key": event.partitionkey,
            "payload": payload,
            "created_at": event.time,
        }
        for topic in topics
    ]


class OutboxRepository:
    """Outbox rows: append (in a use case's transaction), fetch unsent in order, mark sent, clean up."""

    def __init__(
        self, session: AsyncSession, profile: DatabaseProfile, *, on_append: Callable[[], None] = lambda: None
    ) -> None:
        self.session = session
        self._profile = profile
        self._on_append = on_append
        self._appended: list[dict[str, Any]] = []

    def append(self, event: CloudEvent, *topics: str) -> None:
        """Add `event` once per topic in `topics`, keyed by its partition key; inserted by write_appended()
        when the change commits (UnitOfWork.commit), in one statement for all."""
        self._appended += outbox_rows(event, topics)
        self._on_append()

    async def write_appended(self) -> None:
        """INSERT the rows appended since the last call (before the commit of their change)."""
        rows, self._appended = self._appended, []
        await insert_rows(self.session, {OUTBOX: rows})

    async def try_lead(self) -> bool:
        """PostgreSQL: take the relay leader lock until this transaction ends (False: another relay has it).

        Other databases: always True (SQLite runs one relay process).
        """
        if not self._profile.advisory_locks:
            return True
        got = await self.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY}
        )
        return bool(got)

    async def unsent(self, limit: int) -> list[Pending]:
        """The oldest `limit` unsent rows in insertion order (which is commit order per partition key)."""
        result = await self.session.execute(
            select(OutboxRow.id, OutboxRow.topic, OutboxRow.key, OutboxRow.payload)
            .where(OutboxRow.sent_at.is_(None))
            # = ORDER BY id (sent_at is NULL in every row here), spelled as the index (sent_at, id) is ordered
            # so that PostgreSQL reads `limit` entries of it instead of sorting every unsent row.
            .order_by(OutboxRow.sent_at, OutboxRow.id)
            .limit(limit)
        )
        return [Pending(*row) for row in result]

    async def mark_sent(self, ids: list[int], at: datetime) -> None:
        """Record that rows `ids` reached the bus."""
        await self.session.execute(
            update(OutboxRow).where(self._profile.one_of(OutboxRow.id, ids)).values(sent_at=at)
        )

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

    async def backlog(self) -> tuple[int, datetime | None]:
        """(rows waiting to be sent, creation time of the oldest of them or None)."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.sent_at.is_(None))
            )
        ).one()
        return int(row[0] or 0), row[1]

    async def requeue_sent(self, *, since: datetime, topics: Sequence[str] = ()) -> dict[str, int]:
        """Mark rows sent at or after `since` (of `topics`, default all) unsent again, so the relay publishes
        them once more in id order; returns how many per topic. Rows still unsent are left as they are."""
        where = [OutboxRow.sent_at >= since]
        if topics:
            where.append(OutboxRow.topic.in_(list(topics)))
        counts = {
            topic: int(n)
            for topic, n in await self.session.execute(
                select(OutboxRow.topic, func.count()).where(*where).group_by(OutboxRow.topic)
            )
        }
        if counts:
            await self.session.execute(update(OutboxRow).where(*where).values(sent_at=None))
            self._on_append()  # wakes the relay (NOTIFY on PostgreSQL) when the transaction commits
        return counts
