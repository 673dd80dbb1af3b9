"""The broker freezes for 10 s while 1,000 tasks are created: nothing fails, nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets

from taskstream.devkafka import KafkaBroker, free_port
from taskstream.events.payloads import TASK_CREATED
from taskstream.runtime import Runtime
from taskstream.store.tables import AuditEntry, OutboxRow
from tests.faults.conftest import bounded, count, eventually, kafka_settings, sign_up

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TASKS = 1000
USERS = 4
CLIENTS_PER_USER = 2
PAUSE_S = 10.0


class Listener:
    """One WebSocket client: counts each task.created event id it receives."""

    def __init__(self, url: str, user_id: str) -> None:
        self.url = url
        self.user_id = user_id
        self.created: Counter[str] = Counter()
        self.created_tasks: dict[str, str] = {}  # event id -> task id
        self.foreign = 0  # events of another user (must stay 0)
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(self.url) as socket:
            async for text in socket:
                message = json.loads(text)
                if message.get("type") == "ready":
                    self.ready.set()
                elif message.get("type") == TASK_CREATED:
                    if message.get("partitionkey") != self.user_id:
                        self.foreign += 1
                    self.created[message["id"]] += 1
                    self.created_tasks[message["id"]] = message["subject"]


@bounded(150)
async def test_broker_paused_10s_while_1000_tasks_are_created(
    tmp_path: Path, pg_url: str, broker: KafkaBroker
) -> None:
    started = time.monotonic()
    runtime = Runtime(kafka_settings(tmp_path, pg_url, broker))  # every service, over Kafka
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(runtime.build_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    listeners: list[Listener] = []
    readers: list[asyncio.Task[None]] = []
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
            users = [await sign_up(client, f"user{n}@example.com") for n in range(USERS)]
            for user_id, headers in users:
                token = headers["Authorization"].removeprefix("Bearer ")
                for _ in range(CLIENTS_PER_USER):
                    listener = Listener(f"ws://127.0.0.1:{port}/api/v1/ws?token={token}", user_id)
                    listeners.append(listener)
                    readers.append(asyncio.create_task(listener.run()))
            await asyncio.gather(*(listener.ready.wait() for listener in listeners))

            broker.pause()
            paused_at = time.monotonic()
            statuses: Counter[int] = Counter()
            gate = asyncio.Semaphore(16)

            async def create(n: int) -> None:
                _, headers = users[n % USERS]
                async with gate:
                    response = await client.post(
                        "/api/v1/tasks", json={"title": f"task {n}"}, headers=headers
                    )
                statuses[response.status_code] += 1

            creating = asyncio.gather(*(create(n) for n in range(TASKS)))
            await asyncio.sleep(PAUSE_S)
            created_while_paused = sum(statuses.values())
            unsent_while_paused = await count(runtime, OutboxRow, OutboxRow.sent_at.is_(None))
            broker.resume()
            resumed_at = time.monotonic()
            await creating
            created_s = time.monotonic() - paused_at

            async def all_delivered() -> bool:
                audited = await count(runtime, AuditEntry, AuditEntry.event_type == "created")
                pushed = all(len(listener.created) >= TASKS // USERS for listener in listeners)
                return audited >= TASKS and pushed

            await eventually(
                all_delivered, timeout_s=90, what="audit entries and WebSocket pushes after resume"
            )
            catch_up_s = time.monotonic() - resumed_at
            await eventually(
                lambda: _none_unsent(runtime), timeout_s=30, what="the relay to mark every outbox row sent"
            )
            # One more task per user: its update comes after every earlier one of that user's partition, a
            # copy sent again included, so once each client has it nothing of the burst is still on its way.
            markers = set()
            for _, headers in users:
                response = await client.post("/api/v1/tasks", json={"title": "marker"}, headers=headers)
                markers.add(response.json()["id"])

            async def markers_pushed() -> bool:
                return all(markers & set(listener.created_tasks.values()) for listener in listeners)

            await eventually(markers_pushed, timeout_s=30, what="every client to get its user's marker task")
            for listener in listeners:
                for event_id, task_id in list(listener.created_tasks.items()):
                    if task_id in markers:
                        del listener.created[event_id]

            audited = await count(runtime, AuditEntry, AuditEntry.event_type == "created") - len(markers)
            copies = Counter(n for listener in listeners for n in listener.created.values())
            print(
                f"\n[broker paused {PAUSE_S:.0f}s] requests: {dict(statuses)} in {created_s:.1f}s "
                f"({created_while_paused} while paused); unsent outbox rows at resume={unsent_while_paused}; "
                f"audit created entries={audited}; WebSocket clients={len(listeners)}, "
                f"updates per client={sorted({len(lst.created) for lst in listeners})}, "
                f"copies per update={dict(copies)}, "
                f"foreign={sum(lst.foreign for lst in listeners)}; caught up {catch_up_s:.1f}s after resume; "
                f"relay sent {runtime.relay.sent} rows; took {time.monotonic() - started:.1f}s"
            )
            assert statuses == {201: TASKS}
            assert created_while_paused > 0
            assert unsent_while_paused >= 2 * created_while_paused  # nothing reached the paused broker
            assert audited == TASKS
            for listener in listeners:
                assert len(listener.created) == TASKS // USERS
                assert set(listener.created.values()) == {1}
                assert listener.foreign == 0
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        server.should_exit = True
        await serving


async def _none_unsent(runtime: Runtime) -> bool:
    return await count(runtime, OutboxRow, OutboxRow.sent_at.is_(None)) == 0
