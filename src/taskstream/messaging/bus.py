"""The bus interface every transport implements (memory, Kafka, Dapr)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One record on a topic: `key` is the partition key (the user id), `value` a structured CloudEvent."""

    topic: str
    key: str
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Message], Awaitable[object]]  # the result (an Outcome) matters to the Dapr transport only


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that can also take several messages of one partition at once (one transaction for all)."""

    async def __call__(self, message: Message) -> object: ...

    async def handle_batch(self, messages: Sequence[Message]) -> object:
        """Same effects as calling the handler once per message, in order; raises what that would raise."""
        ...


async def deliver(handler: Handler, messages: Sequence[Message]) -> None:
    """Hand `messages` (one partition's, in order) to `handler`: at once when it takes batches, else one by
    one. Raises what the handler raised; the transport then delivers all of them again (handlers are
    idempotent through the inbox), so none may be assumed handled."""
    if len(messages) > 1 and isinstance(handler, BatchHandler):
        await handler.handle_batch(messages)
        return
    for message in messages:
        await handler(message)


@dataclass(frozen=True)
class BusHealth:
    """What a transport knows of its broker: `ok` False while it cannot publish or consume; `message` one
    line for readiness and logs; `detail` JSON-ready facts (transport, address, status, since, warning)."""

    ok: bool
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


class BusUnavailable(Exception):
    """The transport cannot take or deliver messages right now (broker down); retry later."""


class PartialPublish(BusUnavailable):
    """A publish failed after the first `confirmed` messages (in the given order) were durably accepted."""

    def __init__(self, message: str, *, confirmed: int) -> None:
        super().__init__(message)
        self.confirmed = confirmed


class Bus(Protocol):
    """Publish/subscribe transport.

    Delivery is at least once: a subscriber's handler is awaited for each message, in order per partition key,
    and a message counts as consumed only when its handler returned without raising. A handler that raises
    gets the message again (the consumer wrapper in `messaging.inbox` owns retries and dead-lettering).
    Several messages of one partition may be handed over at once through `deliver` (a BatchHandler takes
    them in one call); tests/integration/test_bus_contract.py holds every transport to these rules.
    """

    async def start(self) -> None:
        """Connect; raises BusUnavailable if the transport cannot be reached."""
        ...

    async def stop(self) -> None:
        """Drain in-flight handlers, commit what was consumed, disconnect."""
        ...

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish in the given order; returns once every message is durably accepted.

        Raises BusUnavailable when the transport refuses or times out; then none may be assumed sent, except
        the first `confirmed` messages when the error is a PartialPublish.
        """
        ...

    def health(self) -> BusHealth:
        """The transport's latest view of its broker (no I/O: read by /readyz on every call)."""
        ...

    async def lag(self) -> dict[tuple[str, str], int]:
        """Messages not yet consumed per (consumer group, topic) by this process (empty when the transport
        delivers synchronously or another process owns the consumers)."""
        ...

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Register `handler` for `topic` before start(). `group` is the consumer group (the service's name):
        members of one group share the messages; group=None means broadcast (this subscriber sees every
        message,
        as every realtime replica must)."""
        ...
