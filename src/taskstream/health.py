"""Readiness and the metrics refreshed on scrape, for the services one process runs.

/readyz answers 503 when the database does not answer, or when this process consumes or relays events and
its bus cannot reach the broker. A process that only serves the API stays ready while the broker is down:
writes go on into the outbox, and the body says so. Processes that write or relay events report the outbox
backlog (rows waiting and the age of the oldest).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskstream.domain.clock import Clock, SystemClock
from taskstream.domain.errors import DependencyUnavailable
from taskstream.messaging.bus import Bus
from taskstream.metrics import BROKER_REACHABLE, FIGURES
from taskstream.store.space import OUT_OF_SPACE
from taskstream.store.uow import UnitOfWorkFactory

_CHECK_TIMEOUT_S = 3.0  # a database that takes longer than this to answer SELECT 1 counts as down


class Health:
    """Readiness of this process. Without `uow`/`bus` (an app built on its own) only the database counts.

    bus_required: the process consumes or relays events, so an unreachable broker makes it unready.
    outbox: the process writes or relays events; the backlog is reported and exported.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        uow: UnitOfWorkFactory | None = None,
        bus: Bus | None = None,
        bus_required: bool = False,
        outbox: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        OUT_OF_SPACE.watch(engine.url)
        self._uow = uow
        self._bus = bus
        self._bus_required = bus_required
        self._outbox = outbox and uow is not None
        self._clock = clock or SystemClock()

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, JSON body): `status`, `database`, and `bus`, `outbox`, `message` where they apply."""
        body: dict[str, Any] = {}
        database_ok = await self._database_ok(body)
        ready = database_ok
        problems: list[str] = [] if database_ok else [f"the database is {body['database']}"]
        if (no_room := OUT_OF_SPACE.problem()) is not None:  # reads work, writes do not
            ready = False
            problems.append(no_room)
            body["disk"] = "full"
        if self._bus is not None:
            health = self._bus.health()
            body["bus"] = health.detail
            if not health.ok:
                if self._bus_required:
                    ready = False
                    problems.append(health.message)
                else:
                    body["message"] = f"{health.message}; writes are accepted and wait in the outbox"
        if self._outbox and database_ok:
            body["outbox"] = await self._backlog() or "unknown: the database did not answer"
        body["status"] = "ok" if ready else "unavailable"
        if problems:
            body["message"] = "; ".join(problems)
        return ready, body

    async def refresh_metrics(self) -> None:
        """Set the gauges that are read on scrape: broker reachability, consumer lag, outbox backlog."""
        if self._bus is not None:
            BROKER_REACHABLE.set(1 if self._bus.health().ok else 0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CHECK_TIMEOUT_S):
                    FIGURES.lag = await self._bus.lag()
        backlog = await self._backlog() if self._outbox else None
        if backlog is not None:  # None: the database is down; the last figures stay and /readyz says why
            FIGURES.outbox = (backlog["unsent"], backlog["oldest_unsent_age_s"])

    async def _database_ok(self, body: dict[str, Any]) -> bool:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                async with self._engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:
            body["database"] = f"unreachable: {type(error).__name__}"
            return False
        body["database"] = "ok"
        return True

    async def _backlog(self) -> dict[str, Any] | None:
        """{unsent, oldest_unsent_age_s}, or None when the database does not answer in time."""
        assert self._uow is not None
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S), self._uow.reader() as uow:
                unsent, oldest = await uow.outbox.backlog()
        except (DependencyUnavailable, TimeoutError, OSError):
            return None
        age = (self._clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        return {"unsent": unsent, "oldest_unsent_age_s": round(max(age, 0.0), 1)}
