"""Connection registry and fan-out: each user's events go to that user's sockets only."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Protocol

import structlog

from taskstream.events.envelope import CloudEvent
from taskstream.metrics import WEBSOCKETS

log = structlog.get_logger(__name__)


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...


class Hub:
    """user id → open sockets. `push` sends a CloudEvent (JSON text) to every socket of its partition key."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[Socket]] = defaultdict(set)

    def add(self, user_id: str, socket: Socket) -> None:
        """Register an authenticated socket."""
        self._sockets[user_id].add(socket)
        WEBSOCKETS.inc()

    def remove(self, user_id: str, socket: Socket) -> None:
        """Forget a closed socket."""
        if socket in self._sockets.get(user_id, ()):
            WEBSOCKETS.dec()
        self._sockets[user_id].discard(socket)
        if not self._sockets[user_id]:
            del self._sockets[user_id]

    def connections(self, user_id: str | None = None) -> int:
        """Open sockets of one user, or of everyone."""
        if user_id is not None:
            return len(self._sockets.get(user_id, ()))
        return sum(len(s) for s in self._sockets.values())

    async def push(self, event: CloudEvent) -> None:
        """Send `event` to its user's sockets; a socket that fails is dropped."""
        sockets = list(self._sockets.get(event.partitionkey, ()))
        if not sockets:
            return
        text = event.to_json().decode()
        results = await asyncio.gather(*(s.send_text(text) for s in sockets), return_exceptions=True)
        for socket, result in zip(sockets, results, strict=True):
            if isinstance(result, BaseException):
                self.remove(event.partitionkey, socket)
