"""In-process bus for the embedded mode: publish hands each message to every consumer group in turn."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Sequence

from taskstream.messaging.bus import BusHealth, Handler, Message, deliver


class MemoryBus:
    """In-process transport.

    publish() awaits every subscribed group's handlers for its messages before it returns, so a message the
    outbox relay marks as sent has been consumed by every group: a crash before that leaves the outbox row
    unsent, and it is delivered again after a restart (consumers deduplicate by event id). Groups run
    concurrently; within a group messages are handled one at a time, in publish order.
    """

    messaging_system = "taskstream.memory"  # messaging.system of the spans that publish and consume

    def __init__(self, *, keep: int = 1000) -> None:
        self._handlers: dict[str, dict[str, list[Handler]]] = defaultdict(lambda: defaultdict(list))
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._broadcast = 0
        # The latest messages accepted, in order, at most `keep` (tests read it; a long run stays bounded).
        self.published: deque[Message] = deque(maxlen=keep)

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Wait for handlers in flight to finish."""
        for lock in list(self._locks.values()):
            async with lock:
                pass

    def health(self) -> BusHealth:
        """Always healthy: there is no broker to lose."""
        return BusHealth(ok=True, message="in-process bus", detail={"transport": "memory", "status": "ok"})

    async def lag(self) -> dict[tuple[str, str], int]:
        """Nothing waits: publish() returns after every group handled its messages."""
        return {}

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Register a handler; group=None gets a private group (broadcast)."""
        if group is None:
            self._broadcast += 1
            group = f"broadcast-{self._broadcast}"
        self._handlers[topic][group].append(handler)
        self._locks.setdefault((topic, group), asyncio.Lock())

    async def publish(self, messages: Sequence[Message]) -> None:
        """Deliver the messages to every group of their topic; raises what a handler raised.

        Each group gets its messages in publish order; groups are served concurrently. A BatchHandler gets all
        of its group's messages of this call at once.
        """
        self.published.extend(messages)
        plan: dict[tuple[str, str], list[Message]] = {}
        for message in messages:
            for group in self._handlers.get(message.topic, {}):
                plan.setdefault((message.topic, group), []).append(message)
        results = await asyncio.gather(
            *(self._deliver(topic, group, batch) for (topic, group), batch in plan.items()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _deliver(self, topic: str, group: str, batch: list[Message]) -> None:
        async with self._locks[(topic, group)]:
            for handler in self._handlers[topic][group]:
                await deliver(handler, batch)
