"""PostgreSQL LISTEN on the outbox channel: a cross-process hint that outbox rows were committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import URL

from taskstream.store.uow import OUTBOX_CHANNEL

log = structlog.get_logger(__name__)


def asyncpg_dsn(url: URL) -> str:
    """The libpq-style DSN asyncpg takes for a SQLAlchemy `postgresql+asyncpg://` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxListener:
    """Keeps one dedicated connection LISTENing and calls every callback on each NOTIFY; reconnects forever.

    A hint only: callbacks also run after each (re)connect, since notifications sent meanwhile are lost, and
    the relay still polls as a backstop.
    """

    def __init__(self, url: URL, callbacks: Sequence[Callable[[], None]], *, retry_s: float = 1.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self._callbacks = tuple(callbacks)
        self._retry_s = retry_s
        self.notifications = 0

    def _fire(self, *_: Any) -> None:
        self.notifications += 1
        for callback in self._callbacks:
            callback()

    async def run(self) -> None:
        """Listen until cancelled; a lost connection is re-opened every `retry_s` seconds."""
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                closed = asyncio.Event()
                connection.add_termination_listener(_setter(closed))
                await connection.add_listener(OUTBOX_CHANNEL, self._fire)
                log.info("listening for outbox notifications", channel=OUTBOX_CHANNEL)
                self._fire()
                while not closed.is_set() and not connection.is_closed():
                    try:
                        await asyncio.wait_for(closed.wait(), timeout=self._retry_s * 10)
                    except TimeoutError:
                        await connection.execute("SELECT 1")  # notice a silently dead connection
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.info("outbox listener reconnecting", error=repr(error))
            finally:
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(self._retry_s)


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _: event.set()
