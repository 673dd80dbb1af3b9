"""A recording stand-in for the daprd sidecar: a real HTTP server on 127.0.0.1 that keeps every request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from taskstream.devkafka import free_port

JOBS = "/v1.0/jobs/"


@dataclass(frozen=True)
class Recorded:
    """One request the sidecar received."""

    method: str
    path: str
    query: list[tuple[str, str]]
    content_type: str
    body: bytes
    api_token: str = ""  # the dapr-api-token header the app sent


class Sidecar:
    """Answers `status` (204 by default) to every call; after `fail_after` calls it answers 500 instead.

    Jobs API calls that succeed are applied to `jobs` (name → request body), so tests see the live jobs.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Recorded] = []
        self.jobs: dict[str, Any] = {}
        self.status = 204
        self.fail_after: int | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget requests and jobs; answer 204 again."""
        with self._lock:
            self.requests.clear()
            self.jobs.clear()
            self.status, self.fail_after = 204, None

    def publishes(self) -> list[Recorded]:
        """The pub/sub publish calls, in arrival order."""
        return [r for r in self.requests if r.path.startswith("/v1.0/publish/")]

    async def _record(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.requests.append(
                Recorded(
                    request.method,
                    request.url.path,
                    list(request.query_params.multi_items()),
                    request.headers.get("content-type", ""),
                    body,
                    request.headers.get("dapr-api-token", ""),
                )
            )
            failing = self.fail_after is not None and len(self.requests) > self.fail_after
            status = 500 if failing else self.status
            if status < 300 and request.url.path.startswith(JOBS):
                self._apply_job(request.method, request.url.path.removeprefix(JOBS), body)
        if status >= 300:
            return JSONResponse({"errorCode": "ERR_TEST", "message": "stand-in failure"}, status_code=status)
        return Response(status_code=status)

    def _apply_job(self, method: str, name: str, body: bytes) -> None:
        if method == "POST":
            self.jobs[name] = json.loads(body)
        elif method == "DELETE":
            self.jobs.pop(name, None)

    def app(self) -> Starlette:
        """The ASGI app: every path and method is recorded."""
        return Starlette(
            routes=[Route("/{path:path}", self._record, methods=["GET", "POST", "PUT", "DELETE"])]
        )


@contextmanager
def running(sidecar: Sidecar) -> Iterator[Sidecar]:
    """Serve `sidecar` with uvicorn in a thread on 127.0.0.1:`sidecar.port` until the block ends."""
    config = uvicorn.Config(
        sidecar.app(), host="127.0.0.1", port=sidecar.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sidecar", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sidecar stand-in did not start")
        time.sleep(0.01)
    try:
        yield sidecar
    finally:
        server.should_exit = True
        thread.join(timeout=10)
