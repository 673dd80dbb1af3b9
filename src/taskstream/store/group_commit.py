"""Group commit: insert-only changes submitted concurrently are written in one transaction.

A change that only adds rows (a new task with its tags, reminders and outbox events) needs no read in its
transaction, so changes from concurrent requests can share one. The first submitter starts a writer task;
while a transaction is being written, later submissions queue and go together in the next one. Each submitter
waits until its rows are committed (or failed), so a 201 still means "durably stored, events in the outbox".

Why: on SQLite one writer runs at a time and every statement is a round trip to the driver's thread; on
PostgreSQL every commit waits for a WAL flush. One transaction for N creates costs about what one costs.

On SQLite the shared transaction is written by SqliteWriter: on a thread of its own with the synchronous
driver, so the whole transaction is one hand-off to that thread. Through aiosqlite each statement takes
several, and under load each waits for a turn of the busy event loop: a 16-create transaction held the write
lock for ~35 ms, and the lock was the limit of create throughput (benchmark 1, create @64).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from taskstream.events.envelope import CloudEvent
from taskstream.messaging.outbox import OUTBOX, outbox_rows
from taskstream.store.db import create_sqlite_writer_engine
from taskstream.store.rows import NewRows, insert_rows, insert_rows_sync, merged
from taskstream.store.uow import UnitOfWorkFactory, raising_unavailable

log = structlog.get_logger(__name__)


@dataclass
class Inserts:
    """One change: rows to add (store/rows.py) and events for the outbox with their topics."""

    rows: NewRows
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
        self._sqlite: SqliteWriter | None = None
        if uow.profile.single_writer and uow.engine.url.database not in (None, "", ":memory:"):
            self._sqlite = SqliteWriter(uow)
        self.transactions = 0  # committed transactions (tests read it)

    def close(self) -> None:
        """Release the SQLite writer's thread and connection (waits for a transaction being written)."""
        if self._sqlite is not None:
            self._sqlite.close()

    async def insert(self, rows: NewRows, events: Sequence[tuple[CloudEvent, tuple[str, ...]]]) -> None:
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
        rows = merged([change.rows for change in batch])  # one statement per table for the whole batch
        events = [(event, topics) for change in batch for event, topics in change.events]
        if self._sqlite is not None:
            rows[OUTBOX] = [row for event, topics in events for row in outbox_rows(event, topics)]
            await self._sqlite.insert(rows)
        else:
            async with self._uow() as uow:
                await insert_rows(uow.session, rows)
                for event, topics in events:
                    uow.outbox.append(event, *topics)
                await uow.commit()
        self.transactions += 1


class SqliteWriter:
    """SQLite: insert-only transactions written on one dedicated thread with the synchronous driver.

    Holds the unit-of-work factory's write lock like any in-process writer, so it never meets SQLite's busy
    handler; wakes the relay after each commit, as a unit of work that appended events does.
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow
        self._engine = create_sqlite_writer_engine(uow.engine.url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    async def insert(self, rows: NewRows) -> None:
        """Insert `rows` and commit, on the writer thread; returns once committed.

        Raises DependencyUnavailable when the database cannot be written (locked by another process for
        longer than the busy timeout, disk errors), or what the insert raised (IntegrityError).
        """
        lock = self._uow.write_lock
        assert lock is not None  # an SQLite factory always has one
        with raising_unavailable():
            async with lock:
                await asyncio.get_running_loop().run_in_executor(self._thread, self._insert, rows)
        self._uow.outbox_committed()

    def _insert(self, rows: NewRows) -> None:
        with self._engine.begin() as connection:
            insert_rows_sync(connection, rows)

    def close(self) -> None:
        """Stop the thread (after the transaction it may be writing) and close the connection."""
        self._thread.shutdown(wait=True)
        self._engine.dispose()


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
