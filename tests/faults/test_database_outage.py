"""PostgreSQL unreachable under the API for 5 s (a TCP proxy cuts and refuses connections): 503, recovery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from taskstream.devkafka import free_port
from taskstream.events.topics import TASK_EVENTS, TASK_UPDATES
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from taskstream.store.tables import OutboxRow, Task
from taskstream.transports.memory import MemoryBus
from tests.faults.conftest import JWT_SECRET, bounded, sign_up

pytestmark = [pytest.mark.postgres]

OUTAGE_S = 5.0


class TcpProxy:
    """127.0.0.1:port → target; `cut()` drops every connection and refuses new ones until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.refused_during_cut = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        """Stop listening (new connections are refused) and reset every open connection."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer), return_exceptions=True
        )
        for w in (writer, upstream_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@bounded(90)
async def test_postgres_unreachable_for_5s_gives_503_then_recovers(
    tmp_path: Path, pg_url: str, api_client: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    started = time.monotonic()
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path, database_url=proxied, jwt_secret=JWT_SECRET, db_pool_timeout_s=2.0)
    runtime = Runtime(settings, services=("api",), bus=MemoryBus())  # the api alone: no relay, no consumers
    await runtime.start()
    try:
        client = api_client(runtime)
        _, headers = await sign_up(client, "outage@example.com")
        first = (await client.post("/api/v1/tasks", json={"title": "first"}, headers=headers)).json()
        phase = "before"
        results: list[tuple[str, int, dict[str, object], float]] = []
        reads: list[tuple[str, int, dict[str, object]]] = []
        stop = asyncio.Event()

        async def reader() -> None:  # the views: one task and a page, through the driver's own connection
            while not stop.is_set():
                for path in (f"/api/v1/tasks/{first['id']}", "/api/v1/tasks"):
                    response = await client.get(path, headers=headers)
                    reads.append((phase, response.status_code, response.json()))
                await asyncio.sleep(0.02)

        async def writer(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                sent_at = time.monotonic()
                response = await client.post(
                    "/api/v1/tasks", json={"title": f"w{worker}-{n}"}, headers=headers
                )
                results.append((phase, response.status_code, response.json(), sent_at))
                await asyncio.sleep(0.02)

        workers = [asyncio.create_task(writer(w)) for w in range(4)] + [asyncio.create_task(reader())]
        await asyncio.sleep(1.5)
        phase = "outage"
        await proxy.cut()
        cut_at = time.monotonic()
        ready_during = 0
        while time.monotonic() - cut_at < OUTAGE_S:  # the outage lasts OUTAGE_S; /readyz must see it
            if ready_during != 503:
                ready_during = (await client.get("/readyz")).status_code
            await asyncio.sleep(0.1)
        phase = "after"
        await proxy.restore()
        restored_at = time.monotonic()
        recovered_after: float | None = None
        while time.monotonic() - restored_at < 20:
            await asyncio.sleep(0.1)
            fresh = [r for r in results if r[0] == "after" and r[3] > restored_at and r[1] == 201]
            if fresh:
                recovered_after = min(r[3] for r in fresh) - restored_at
                break
        while sum(1 for r in results if r[0] == "after" and r[1] == 201) < 20:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # some traffic after the recovery (bounded by the test's deadline)
        stop.set()
        await asyncio.gather(*workers)
        ready_after = (await client.get("/readyz")).status_code

        by_phase = {
            p: Counter(code for ph, code, _, _ in results if ph == p) for p in ("before", "outage", "after")
        }
        unavailable = [body for _, code, body, _ in results if code == 503]
        read_codes = {p: Counter(code for ph, code, _ in reads if ph == p) for p in by_phase}
        async with runtime.uow() as uow:
            tasks = set(await uow.session.scalars(select(Task.id)))
            rows = list(await uow.session.execute(select(OutboxRow.topic, OutboxRow.payload)))
        events: dict[str, Counter[str]] = {TASK_EVENTS: Counter(), TASK_UPDATES: Counter()}
        for topic, payload in rows:
            events[topic][json.loads(payload)["subject"]] += 1
        accepted = {str(body["id"]) for _, code, body, _ in results if code == 201}
        print(
            f"\n[postgres down {OUTAGE_S:.0f}s] responses before={dict(by_phase['before'])} "
            f"outage={dict(by_phase['outage'])} after={dict(by_phase['after'])}; "
            f"readyz during={ready_during} "
            f"after={ready_after}; first 201 {recovered_after}s after restore; tasks={len(tasks)}, "
            f"accepted={len(accepted)}, outbox task-events={sum(events[TASK_EVENTS].values())} "
            f"task-updates={sum(events[TASK_UPDATES].values())}; first 503 body={unavailable[:1]}; "
            f"outage lasted {restored_at - cut_at:.1f}s; took {time.monotonic() - started:.1f}s; "
            f"reads {read_codes}"
        )
        assert set(by_phase["outage"]) <= {201, 503} and by_phase["outage"][503] > 0
        assert set(by_phase["before"]) == {201} and by_phase["after"][201] > 0
        assert set(by_phase["after"]) <= {201, 503}
        assert all("database" in str(body["message"]) for body in unavailable)
        assert ready_during == 503 and ready_after == 200
        # Reads answer 503 during the outage, never 500, and are served again after it.
        assert set(read_codes["before"]) == {200} and read_codes["after"][200] > 0
        assert set(read_codes["outage"]) <= {200, 503} and read_codes["outage"][503] > 0
        assert set(read_codes["after"]) <= {200, 503}
        assert all("database" in str(body["message"]) for _, code, body in reads if code == 503)
        assert recovered_after is not None and recovered_after < 10
        # No half-written change: every task has exactly its created event on both topics, and no event
        # exists without its task. A request cut mid-commit may have committed; it is then complete too.
        assert accepted <= tasks
        assert events[TASK_EVENTS] == Counter({task_id: 1 for task_id in tasks})
        assert events[TASK_UPDATES] == Counter({task_id: 1 for task_id in tasks})
    finally:
        await runtime.stop()
        await proxy.close()


async def test_a_pool_with_no_free_connection_answers_busy_not_unreachable(
    tmp_path: Path, pg_url: str, api_client: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    """Every pooled connection taken for longer than the pool timeout: 503 "the server is busy", with
    Retry-After, nothing written; served again as soon as a connection is back."""
    settings = Settings(
        data_dir=tmp_path, database_url=pg_url, jwt_secret=JWT_SECRET,
        db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.5,
    )  # fmt: skip
    runtime = Runtime(settings, services=("api",), bus=MemoryBus())
    await runtime.start()
    try:
        client = api_client(runtime)
        _, headers = await sign_up(client, "busy@example.com")
        async with runtime.engine.connect():  # the only connection, held
            answer = await client.post("/api/v1/tasks", json={"title": "waits"}, headers=headers)
        assert answer.status_code == 503, answer.text
        assert answer.json()["message"] == "the server is busy; nothing was changed, try again"
        assert answer.headers["Retry-After"] == "1"
        done = await client.post("/api/v1/tasks", json={"title": "served"}, headers=headers)
        assert done.status_code == 201
        titles = [t["title"] for t in (await client.get("/api/v1/tasks", headers=headers)).json()["items"]]
        assert titles == ["served"]
    finally:
        await runtime.stop()
