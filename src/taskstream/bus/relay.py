"""Outbox relay: publishes committed outbox rows to the bus in order, in batches, then marks them sent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from taskstream.bus.base import Bus, BusUnavailable, Message
from taskstream.domain.clock import Clock
from taskstream.domain.errors import DependencyUnavailable
from taskstream.store.uow import UnitOfWorkFactory

log = structlog.get_logger(__name__)

RETENTION = timedelta(minutes=10)


class OutboxRelay:
    """Delivers outbox rows at least once, in id order (commit order per partition key).

    Wakes on `wake()` (called after each commit that wrote events) and polls every `poll_s` as a backstop.
    A failed publish leaves the rows unsent; they go again on the next pass, so none is lost.
    """

    def __init__(
        self, uow: UnitOfWorkFactory, bus: Bus, clock: Clock, *, batch_size: int = 200, poll_s: float = 1.0
    ):
        self._uow = uow
        self._bus = bus
        self._clock = clock
        self._batch_size = batch_size
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.sent = 0

    def wake(self) -> None:
        """Ask the relay to look for new rows now."""
        self._wake.set()

    async def run(self) -> None:
        """Loop until cancelled: drain, then sleep until woken or the poll interval passes."""
        failures = 0
        passes = 0
        while True:
            self._wake.clear()
            try:
                count = await self.drain_once()
                failures = 0
            except (BusUnavailable, DependencyUnavailable, OSError) as error:
                failures += 1
                log.warning("relay cannot deliver yet", error=str(error), failures=failures)
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            passes += 1
            if passes % 50 == 0:
                await self._cleanup()
            if count >= self._batch_size:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
            except TimeoutError:
                pass

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows and mark them sent; returns how many were sent."""
        async with self._uow() as uow:
            rows = await uow.outbox.unsent(self._batch_size)
            batch = [(row.id, Message(row.topic, row.key, row.payload.encode())) for row in rows]
        if not batch:
            return 0
        # The read transaction is closed before publishing: consumers of an in-process bus write meanwhile.
        await self._bus.publish([message for _, message in batch])
        async with self._uow() as uow:
            await uow.outbox.mark_sent([row_id for row_id, _ in batch], self._clock.now())
            await uow.commit()
        self.sent += len(batch)
        return len(batch)

    async def _cleanup(self) -> None:
        try:
            async with self._uow() as uow:
                await uow.outbox.delete_sent(older_than=self._clock.now() - RETENTION)
                await uow.commit()
        except DependencyUnavailable:
            pass
