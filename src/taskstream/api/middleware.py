"""ASGI middleware of every app: security headers on every HTTP answer, a latency figure and a log line
per request."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import lru_cache

import structlog
from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskstream.api.errors import body_too_large, error_body
from taskstream.metrics import HTTP_DURATION
from taskstream.tracing import route_template

log = structlog.get_logger("taskstream.http")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: counted, not logged

# No inline script or style anywhere (the UI and /docs load files only); no plugins, no <base>, no framing.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; connect-src 'self'"
)
_FIXED = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_HSTS = b"max-age=31536000; includeSubDomains"
# A Host header that can be named in the policy: a DNS name or an IP literal, with an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


@lru_cache(maxsize=64)  # per Host header: a server is reached under a few names
def _policy_header(host: str | None) -> bytes:
    return content_security_policy(host).encode()


def content_security_policy(host: str | None) -> str:
    """The policy for a page reached at `host`: connect-src also names the WebSocket URLs of that same
    origin (ws: and wss:), which browsers before CSP level 3 do not count as 'self'."""
    if host and _HOST.fullmatch(host):
        return f"{_POLICY} ws://{host} wss://{host}"
    return _POLICY


class HttpEdge:
    """The edge of every HTTP request, in one layer (one send wrapper, the request's headers read once):

    - 413 before anything is read for a request whose Content-Length is over `max_body_size` (None: no
      limit here), in the error body of every answer, and the connection closed. (A body without a length,
      or longer than it says, is counted as it arrives by FastAPI's max_body_size; errors.install answers
      that 413 alike.)
    - Content-Security-Policy, X-Content-Type-Options, X-Frame-Options and Referrer-Policy on every answer,
      and Strict-Transport-Security on those sent over TLS; a header the app set itself stays.
    - One observation of taskstream_http_request_duration_seconds labelled by the route template, and one
      log line — `request` at info, `request failed` at error for a 5xx — with method, route, path (no
      query string), status and duration_ms. Probes and scrapes are not logged.
    """

    def __init__(self, app: ASGIApp, max_body_size: int | None = None) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts
        host, length = None, ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        added = [(b"content-security-policy", _policy_header(host)), *_FIXED]
        if scope.get("scheme") == "https":
            added.append((b"strict-transport-security", _HSTS))

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message["headers"] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in added if header[0] not in present)
            await send(message)

        try:
            if self.max_body_size is not None and length.isdigit() and int(length) > self.max_body_size:
                response = JSONResponse(
                    error_body(body_too_large(self.max_body_size), None),
                    status_code=413,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, edge_send)
            else:
                await self.app(scope, receive, edge_send)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope) or "unmatched"
            HTTP_DURATION.labels(scope["method"], route, str(status)).observe(elapsed)
            path = scope["path"]
            if status >= 500:
                log.error("request failed", **_fields(scope, route, status, elapsed))
            elif path not in _QUIET_PATHS:
                log.info("request", **_fields(scope, route, status, elapsed))


def _fields(scope: Scope, route: str, status: int, elapsed: float) -> dict[str, object]:
    return {
        "method": scope["method"],
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(elapsed * 1000, 2),
    }


class HardenedApp(FastAPI):
    """FastAPI with HttpEdge around the whole stack, so even the answers of the framework's outermost error
    handler (500) carry the security headers and are counted. `outer_middleware` wraps all of it, last added
    outermost (tracing: the server span times everything, and the request's log line is written inside
    it)."""

    outer_middleware: list[Callable[[ASGIApp], ASGIApp]]

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = HttpEdge(super().build_middleware_stack(), self.max_body_size)
        for wrap in getattr(self, "outer_middleware", []):
            stack = wrap(stack)
        return stack
