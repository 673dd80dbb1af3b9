"""DaprBus.health(): what /readyz of a relaying process says while publishing through daprd fails."""

from __future__ import annotations

import httpx
import pytest

from taskstream.messaging.bus import BusUnavailable, Message
from taskstream.transports.dapr import DaprBus


async def test_health_is_down_from_a_failed_publish_until_one_succeeds() -> None:
    refused = httpx.Response(500, text="kafka: client has run out of available brokers")
    answers = [refused, httpx.Response(204)]
    sidecar = httpx.MockTransport(lambda request: answers.pop(0))
    bus = DaprBus(transport=sidecar)
    await bus.start()
    try:
        assert bus.health().ok
        with pytest.raises(BusUnavailable):
            await bus.publish([Message("task-events", "user-1", b"{}")])
        down = bus.health()
        assert not down.ok and "out of available brokers" in down.message and "500" in down.message
        await bus.publish([Message("task-events", "user-1", b"{}")])
        assert bus.health().ok
    finally:
        await bus.stop()


async def test_health_is_down_while_the_sidecar_does_not_answer() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    bus = DaprBus(transport=httpx.MockTransport(refuse))
    await bus.start()
    try:
        with pytest.raises(BusUnavailable):
            await bus.publish([Message("reminders", "user-1", b"{}")])
        assert not bus.health().ok and "unreachable" in bus.health().message
    finally:
        await bus.stop()
