"""Unit of work: one database transaction; the only place that commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from taskstream.domain.errors import DependencyUnavailable, OutOfSpace
from taskstream.features.accounts.repository import UserRepository
from taskstream.features.accounts.throttle import ThrottleRepository
from taskstream.features.audit.repository import AuditRepository
from taskstream.features.notifications.repository import NotificationRepository
from taskstream.features.tasks.reads import TaskViews
from taskstream.features.tasks.repository import ReminderRepository, TaskRepository
from taskstream.features.tasks.search import SearchPlanner, planner_for
from taskstream.features.tasks.trash import TrashRepository
from taskstream.messaging.outbox import OutboxRepository
from taskstream.messaging.repositories import DeadLetterRepository, InboxRepository
from taskstream.store.profile import DatabaseProfile
from taskstream.store.raw import InlineReads, observed
from taskstream.store.space import DISK_FULL_MESSAGE, OUT_OF_SPACE, is_disk_full

if TYPE_CHECKING:
    from taskstream.events.envelope import CloudEvent
    from taskstream.store.group_commit import GroupCommitter
    from taskstream.store.rows import NewRows

OUTBOX_CHANNEL = "taskstream_outbox"  # PostgreSQL LISTEN/NOTIFY channel: "outbox rows were committed"

READ_ONLY = "taskstream_read_only"  # execution option of a transaction that only reads
# Execution option of reads that need no snapshot across their statements (SQLite: no BEGIN, each statement
# reads the newest commit, as every statement does on PostgreSQL under READ COMMITTED and autocommit).
EACH_STATEMENT = "taskstream_each_statement"


def as_unavailable(error: BaseException) -> DependencyUnavailable | None:
    """The DependencyUnavailable a database failure `error` stands for (OutOfSpace when the disk is full,
    "busy" when no pooled connection came free in time); None for other errors."""
    if isinstance(error, DependencyUnavailable):
        return None
    if is_disk_full(error):
        OUT_OF_SPACE.mark(error)
        return OutOfSpace(DISK_FULL_MESSAGE)
    if isinstance(error, PoolTimeout):  # every pooled connection stayed busy for the pool timeout
        return DependencyUnavailable("the server is busy; nothing was changed, try again")
    if not is_connection_error(error):
        return None
    return DependencyUnavailable("the database is unreachable; nothing was changed, try again")


@contextmanager
def raising_unavailable() -> Iterator[None]:
    """A database failure inside the block is raised as the DependencyUnavailable it stands for
    (as_unavailable), from it; other errors go through as they are."""
    try:
        yield
    except Exception as error:
        unavailable = as_unavailable(error)
        if unavailable is None:
            raise
        raise unavailable from error


def is_connection_error(error: BaseException) -> bool:
    """True when `error` means the database could not be reached (not a constraint or SQL error)."""
    if isinstance(error, OperationalError | ConnectionError | OSError | TimeoutError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # The drivers' own errors, as store/raw.py raises them: sqlite3's OperationalError (what SQLAlchemy's
    # OperationalError wraps), PostgreSQL's connection exceptions (SQLSTATE class 08) and shutdowns (57P0x).
    if isinstance(error, sqlite3.OperationalError):
        return True
    if str(getattr(error, "sqlstate", "") or "").startswith(("08", "57P")):
        return True
    text = f"{type(error).__name__} {error}".lower()
    words = ("connection refused", "connection was closed", "connection is closed", "cannot connect")
    return any(w in text for w in (*words, "timeout"))


class UnitOfWork:
    """`async with uow:` opens a transaction; `await uow.commit()` commits; leaving without commit rolls back.

    Database connection failures surface as DependencyUnavailable so callers answer 503 / retry later.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        profile: DatabaseProfile,
        search: SearchPlanner,
        on_commit: Callable[[], None],
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._profile = profile
        self._search = search
        self._on_commit = on_commit
        self._write_lock = write_lock
        self.outbox_written = False

    async def __aenter__(self) -> UnitOfWork:
        if self._write_lock is not None:
            await self._write_lock.acquire()
        self.session = self._session_factory()
        self.users = UserRepository(self.session)
        self.throttle = ThrottleRepository(self.session, self._profile)
        self.tasks = TaskRepository(self.session)
        self.reminders = ReminderRepository(self.session)
        self.trash = TrashRepository(self.session)
        self.notifications = NotificationRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.inbox = InboxRepository(self.session)
        self.dead_letters = DeadLetterRepository(self.session)
        self.outbox = OutboxRepository(self.session, self._profile, on_append=self._mark_outbox)
        self.outbox_written = False
        return self

    def _mark_outbox(self) -> None:
        self.outbox_written = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            # close() rolls back what was not committed and detaches objects without expiring them.
            await self.session.close()
        except Exception:
            pass
        finally:
            if self._write_lock is not None:
                self._write_lock.release()
        unavailable = as_unavailable(exc) if exc is not None else None
        if unavailable is not None:
            raise unavailable from exc

    async def commit(self) -> None:
        """Insert the staged outbox and inbox rows, then commit; wakes the outbox relay when events were
        written (PostgreSQL: NOTIFY, other processes)."""
        await self.outbox.write_appended()
        await self.inbox.write_recorded()
        if self.outbox_written and self._profile.listen_notify:
            # NOTIFY is transactional: listeners hear it only if this commit succeeds, right after it.
            await self.session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        await self.session.commit()
        if self.outbox_written:
            self._on_commit()


class UnitOfWorkFactory:
    """Makes units of work on one engine; `outbox_committed` is called after a commit that wrote events.

    profile: the database's abilities (default: from the engine); search: the task search planner (default:
    the profile's, with the standard limits).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        profile: DatabaseProfile | None = None,
        search: SearchPlanner | None = None,
    ) -> None:
        self.engine = engine
        self.profile = profile or DatabaseProfile.of(engine)
        self.search = search or planner_for(self.profile)
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.profile.single_writer else None
        read_engine = engine.execution_options(**{READ_ONLY: True}, **self.profile.read_options)
        self.read_sessions = async_sessionmaker(read_engine, expire_on_commit=False)
        self._view_engine = read_engine.execution_options(**{EACH_STATEMENT: True})
        self._listeners: list[Callable[[], None]] = []
        self._group_commit: GroupCommitter | None = None
        self._inline: InlineReads | None = None
        if self.profile.single_writer and engine.url.database not in (None, "", ":memory:"):
            from taskstream.store.db import sqlite_inline_connection

            url = engine.url
            self._inline = InlineReads(lambda: sqlite_inline_connection(url), engine.dialect)

    def on_outbox_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every commit that appended outbox rows (the relay's wake-up)."""
        self._listeners.append(listener)

    def outbox_committed(self) -> None:
        """Wake the relay: a commit appended outbox rows (called by units of work and other writers)."""
        for listener in self._listeners:
            listener()

    @property
    def write_lock(self) -> asyncio.Lock | None:
        """SQLite: the lock every in-process writer holds for its whole transaction (None on PostgreSQL)."""
        return self._write_lock

    @property
    def group_commit(self) -> GroupCommitter:
        """The group committer of this database: insert-only changes of concurrent callers share one
        transaction (store/group_commit.py). Made on first use."""
        if self._group_commit is None:
            from taskstream.store.group_commit import GroupCommitter

            self._group_commit = GroupCommitter(self)
        return self._group_commit

    async def insert_only(self, rows: NewRows, events: Sequence[tuple[CloudEvent, tuple[str, ...]]]) -> None:
        """Insert `rows` (store/rows.py) and append `events` (each with its topics) in a transaction shared
        with concurrent insert-only changes; returns once committed. Raises DependencyUnavailable when the
        database is down, else what the change's own transaction raised."""
        await self.group_commit.insert(rows, events)

    def close(self) -> None:
        """Release what the group committer holds (SQLite: its writer thread and connection) and the
        inline reads' connection."""
        if self._inline is not None:
            self._inline.close()
        if self._group_commit is not None:
            self._group_commit.close()
            self._group_commit = None

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(
            self.sessions,
            profile=self.profile,
            search=self.search,
            on_commit=self.outbox_committed,
            write_lock=self._write_lock,
        )

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """One pooled read connection, without an ORM session or a transaction: each statement reads the
        newest commit (on SQLite this saves the BEGIN, three hops to its thread). Database failures raise
        DependencyUnavailable, as a unit of work's do."""
        with raising_unavailable():
            async with self._view_engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def views(self) -> AsyncIterator[TaskViews]:
        """Task views on one read_connection(), checked out when a statement first needs it (a page and its
        tags may straddle a concurrent change, on either database). On an SQLite file their fixed reads by
        key run on this thread (store/raw.py InlineReads), unless something observes the statements."""
        with raising_unavailable():
            async with AsyncExitStack() as stack:

                async def connect() -> AsyncConnection:
                    return await stack.enter_async_context(self.read_connection())

                inline = self._inline if self._inline is not None and not observed(self.engine) else None
                yield TaskViews(connect, self.search, inline=inline)

    def reader(self) -> UnitOfWork:
        """A unit of work for reads only: on SQLite it waits for no writer (WAL snapshot); never commit it."""
        return UnitOfWork(
            self.read_sessions, profile=self.profile, search=self.search, on_commit=self.outbox_committed
        )
