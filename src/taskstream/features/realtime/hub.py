"""Connection registry and fan-out: each user's events go to that user's sockets only.

Account events close sockets instead of being pushed: sessions revoked (sign-out, password change, a reused
refresh token) close those sessions' sockets, a deleted account closes all of its sockets. Both also reach
`on_sign_out`, which the api uses to drop the callers it cached for those sessions.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from taskstream.events.envelope import CloudEvent
from taskstream.events.payloads import (
    ACCOUNT_DELETED,
    SESSIONS_REVOKED,
    AccountDeletedData,
    SessionsRevokedData,
)
from taskstream.metrics import WEBSOCKET_PUSHES, WEBSOCKETS
from taskstream.tracing import NO_TRACER

log = structlog.get_logger(__name__)

SIGNED_OUT = 4401  # WebSocket close code: the session ended (sign in again, or refresh and reconnect)


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...


class Hub:
    """user id → open sockets (each with its session id). `push` sends a CloudEvent (JSON text) to every
    socket of its partition key; at most `per_user` sockets per user."""

    def __init__(self, *, per_user: int = 20, tracer: Tracer = NO_TRACER) -> None:
        self._sockets: dict[str, dict[Socket, str | None]] = defaultdict(dict)
        self.per_user = per_user
        self.tracer = tracer  # a span per socket a change is pushed to
        self.on_sign_out: Callable[[str, list[str] | None], None] = lambda _user, _sessions: None

    def add(self, user_id: str, socket: Socket, *, session_id: str | None = None) -> bool:
        """Register an authenticated socket; False (not registered) when the user has per_user already."""
        if len(self._sockets.get(user_id, ())) >= self.per_user:
            return False
        self._sockets[user_id][socket] = session_id
        WEBSOCKETS.inc()
        return True

    def renew(self, user_id: str, socket: Socket, *, session_id: str) -> None:
        """The socket now speaks for `session_id` (its client sent a fresh token)."""
        if socket in self._sockets.get(user_id, {}):
            self._sockets[user_id][socket] = session_id

    def remove(self, user_id: str, socket: Socket) -> None:
        """Forget a closed socket."""
        if socket in self._sockets.get(user_id, ()):
            WEBSOCKETS.dec()
            del self._sockets[user_id][socket]
        if user_id in self._sockets and not self._sockets[user_id]:
            del self._sockets[user_id]

    def connections(self, user_id: str | None = None) -> int:
        """Open sockets of one user, or of everyone."""
        if user_id is not None:
            return len(self._sockets.get(user_id, ()))
        return sum(len(s) for s in self._sockets.values())

    async def push(self, event: CloudEvent) -> None:
        """Send `event` to its user's sockets (a socket that fails is dropped); close sockets on account
        events (see the module docstring)."""
        if event.type == SESSIONS_REVOKED:
            revoked = SessionsRevokedData.model_validate(event.data)
            await self._close(revoked.user_id, set(revoked.sessions), "signed out")
            self.on_sign_out(revoked.user_id, revoked.sessions)
            return
        if event.type == ACCOUNT_DELETED:
            deleted = AccountDeletedData.model_validate(event.data)
            await self._close(deleted.user_id, None, "account deleted")
            self.on_sign_out(deleted.user_id, None)
            return
        sockets = list(self._sockets.get(event.partitionkey, ()))
        if not sockets:
            return
        text = event.to_json().decode()
        spans = [
            self.tracer.start_span(
                "websocket push", kind=SpanKind.PRODUCER, attributes={"cloudevents.event_type": event.type}
            )
            for _ in sockets
        ]
        results = await asyncio.gather(*(s.send_text(text) for s in sockets), return_exceptions=True)
        for socket, result, span in zip(sockets, results, spans, strict=True):
            if isinstance(result, BaseException):
                span.set_status(Status(StatusCode.ERROR, f"socket dropped: {type(result).__name__}"))
                self.remove(event.partitionkey, socket)
                WEBSOCKET_PUSHES.labels("dropped").inc()
            else:
                WEBSOCKET_PUSHES.labels("sent").inc()
            span.end()

    async def _close(self, user_id: str, sessions: set[str] | None, reason: str) -> None:
        """Close the user's sockets of `sessions` (None: all) with code SIGNED_OUT."""
        chosen = [
            s for s, sid in self._sockets.get(user_id, {}).items() if sessions is None or sid in sessions
        ]
        for socket in chosen:
            self.remove(user_id, socket)
            close = getattr(socket, "close", None)
            if close is not None:
                try:
                    await close(code=SIGNED_OUT, reason=reason)
                except Exception:  # already closed by the client
                    log.debug("socket already closed", user_id=user_id)
        if chosen:
            log.info("sockets closed", user_id=user_id, count=len(chosen), reason=reason)
