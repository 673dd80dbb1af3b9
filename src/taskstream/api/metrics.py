"""/metrics access: a bearer token when TASKSTREAM_METRICS_TOKEN is set, and a port of its own when
TASKSTREAM_METRICS_PORT is set (then the API's port has no /metrics).

The port of its own is served by prometheus_client's WSGI app in a thread; the gauges read on scrape are
refreshed on the process's event loop first, as on the API's port.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from pydantic import SecretStr

log = structlog.get_logger(__name__)

REFRESH_TIMEOUT_S = 10.0  # past it a scrape gets the figures of the last refresh


def token_matches(expected: SecretStr | None, authorization: str | None) -> bool:
    """True when no token is required, or `authorization` is "Bearer <the token>" (constant-time compare)."""
    if expected is None:
        return True
    scheme, _, value = (authorization or "").partition(" ")
    wanted = expected.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), wanted)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


class MetricsServer:
    """GET /metrics on host:port in a daemon thread until stop()."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        token: SecretStr | None,
        refresh: Callable[[], Coroutine[Any, Any, None]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._token = token
        self._refresh = refresh
        self._loop = loop
        self._exposition = make_wsgi_app()
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        server_class = type("MetricsWSGIServer", (ThreadingWSGIServer,), {"address_family": family})
        self._server: WSGIServer = make_server(
            host, port, self._app, server_class, handler_class=_QuietHandler
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics served on their own port", port=self.port)

    def stop(self) -> None:
        """Stop serving and close the socket (blocks up to half a second)."""
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"only /metrics is served here\n"]
        if not token_matches(self._token, environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [("WWW-Authenticate", "Bearer"), ("Content-Type", "text/plain; charset=utf-8")],
            )
            return [b"send Authorization: Bearer <the metrics token>\n"]
        if environ.get("REQUEST_METHOD") == "GET":
            future = asyncio.run_coroutine_threadsafe(self._refresh(), self._loop)
            try:
                future.result(timeout=REFRESH_TIMEOUT_S)
            except Exception as error:  # a timeout, or the refresh failed: the last figures go out
                log.warning("metrics not refreshed before the scrape", error=type(error).__name__)
        result: Iterable[bytes] = self._exposition(environ, start_response)
        return result
