"""Group commit: insert-only changes submitted concurrently are written in one transaction.

A change that only adds rows (a new task with its tags, reminders and outbox events) needs no read in its
transaction, so changes from concurrent requests can share one. The first submitter starts a writer task;
while a transaction is being written, later submissions queue and go together in the next one. Each submitter
waits until its rows are committed (or failed), so a 201 still means "durably stored, events in the outbox".

Why: on SQLite one writer runs at a time and every statement is a round trip to the driver's thread; on
PostgreSQL every commit waits for a WAL flush. One transaction for N creates costs about what one costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from taskstream.events.envelope import CloudEvent
from taskstream.store.tables import Base
from taskstream.store.uow import UnitOfWorkFactory

log = structlog.get_logger(__name__)


@dataclass
class Inserts:
    """One change: rows to add (parents before children) and events for the outbox with their topics."""

    rows: Sequence[Base]
    events: Sequence[tuple[CloudEvent, tuple[str, ...]]] = ()
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitter:
    """Writes submitted `Inserts` in shared transactions of at most `max_batch` changes.

    If a shared transaction fails, its changes are retried one per transaction, so one bad change cannot
    fail the others; each submitter gets its own outcome (DependencyUnavailable when the database is down).
    """

    def __init__(self, uow: UnitOfWorkFactory, *, max_batch: int = 200) -> None:
        self._uow = uow
        self._max_batch = max_batch
        self._queue: list[Inserts] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0  # committed transactions (tests read it)

    async def insert(
        self, rows: Sequence[Base], events: Sequence[tuple[CloudEvent, tuple[str, ...]]]
    ) -> None:
        """Add `rows` and append `events` in a transaction shared with concurrent submissions; returns once
        committed. Raises what the transaction raised (DependencyUnavailable when the database is down)."""
        change = Inserts(rows, events)
        self._queue.append(change)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_queued())
        try:
            await asyncio.shield(change.done)  # a cancelled caller leaves its change to the writer
        except asyncio.CancelledError:
            change.done.add_done_callback(_retrieve)
            raise

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            try:
                await self._write(batch)
            except Exception as error:
                if len(batch) == 1:
                    _settle(batch, error)
                    continue
                log.warning("shared transaction failed; writing its changes one by one", error=str(error))
                for change in batch:
                    try:
                        await self._write([change])
                    except Exception as single_error:
                        _settle([change], single_error)
                    else:
                        _settle([change], None)
            else:
                _settle(batch, None)

    async def _write(self, batch: list[Inserts]) -> None:
        async with self._uow() as uow:
            for change in batch:
                uow.session.add_all(change.rows)
                for event, topics in change.events:
                    uow.outbox.append(event, *topics)
            await uow.commit()
        self.transactions += 1


def _settle(batch: list[Inserts], error: BaseException | None) -> None:
    for change in batch:
        if change.done.done():
            continue
        if error is None:
            change.done.set_result(None)
        else:
            change.done.set_exception(error)


def _retrieve(future: asyncio.Future[None]) -> None:
    # Nobody awaits the outcome of a cancelled caller's change: read it so asyncio does not report it lost.
    if not future.cancelled():
        future.exception()
