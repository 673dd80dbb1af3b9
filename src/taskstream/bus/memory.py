"""In-process bus for the embedded mode: publish hands each message to every consumer group in turn."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from taskstream.bus.base import Handler, Message


class MemoryBus:
    """In-process transport.

    publish() awaits every subscribed group's handler for each message before it returns, so a message the
    outbox relay marks as sent has been consumed by every group: a crash before that leaves the outbox row
    unsent, and it is delivered again after a restart (consumers deduplicate by event id). Groups run
    concurrently; within a group messages are handled one at a time, in publish order.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, dict[str, list[Handler]]] = defaultdict(lambda: defaultdict(list))
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._broadcast = 0
        self.published: list[
            Message
        ] = []  # every message accepted, in order (for tests and the dead-letter view)

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Wait for handlers in flight to finish."""
        for lock in list(self._locks.values()):
            async with lock:
                pass

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Register a handler; group=None gets a private group (broadcast)."""
        if group is None:
            self._broadcast += 1
            group = f"broadcast-{self._broadcast}"
        self._handlers[topic][group].append(handler)
        self._locks.setdefault((topic, group), asyncio.Lock())

    async def publish(self, messages: Sequence[Message]) -> None:
        """Deliver each message to every group of its topic; raises what a handler raised."""
        for message in messages:
            self.published.append(message)
            groups = self._handlers.get(message.topic, {})
            results = await asyncio.gather(
                *(self._deliver(message, group, handlers) for group, handlers in groups.items()),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _deliver(self, message: Message, group: str, handlers: list[Handler]) -> None:
        async with self._locks[(message.topic, group)]:
            for handler in handlers:
                await handler(message)
