"""Consumer processes SIGKILLed mid-stream: no next occurrence or audit entry lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from taskstream.devkafka import KafkaBroker
from taskstream.events.topics import TASK_EVENTS
from taskstream.runtime import Runtime
from taskstream.store.tables import AuditEntry, OutboxRow, Task
from tests.faults.conftest import (
    ServiceProcess,
    bounded,
    child_env,
    count,
    eventually,
    kafka_settings,
    sign_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

COMPLETIONS = 1000
USERS = 8
KILL_AT = 300  # next occurrences created when the consumers are killed


async def _next_occurrences(runtime: Runtime) -> int:
    return await count(runtime, Task, Task.series_id != Task.id)


@bounded(180)
async def test_consumer_killed_with_sigkill_mid_stream_of_1000_completions(
    tmp_path: Path, pg_url: str, broker: KafkaBroker, api_client: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    started = time.monotonic()
    settings = kafka_settings(tmp_path, pg_url, broker)
    runtime = Runtime(settings, services=("api", "relay"))  # this process: the api and the outbox relay
    await runtime.start()
    env = child_env(settings)
    consumers = [ServiceProcess(name, env, tmp_path / f"{name}.log") for name in ("recurring", "audit")]
    try:
        client = api_client(runtime)
        users = [await sign_up(client, f"user{n}@example.com") for n in range(USERS)]
        gate = asyncio.Semaphore(12)

        async def create(n: int) -> str:
            _, headers = users[n % USERS]
            body = {"title": f"daily {n}", "due_date": "2030-01-01", "recurrence": "FREQ=DAILY"}
            async with gate:
                response = await client.post("/api/v1/tasks", json=body, headers=headers)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        for consumer in consumers:
            consumer.start()  # they boot and consume the created events while the tasks are being created
        task_ids = await asyncio.gather(*(create(n) for n in range(COMPLETIONS)))

        async def complete(n: int) -> None:
            _, headers = users[n % USERS]
            async with gate:
                response = await client.post(f"/api/v1/tasks/{task_ids[n]}/complete", headers=headers)
            assert response.status_code == 200, response.text

        completing = asyncio.create_task(_gather(complete(n) for n in range(COMPLETIONS)))

        async def midway() -> bool:
            return await _next_occurrences(runtime) >= KILL_AT

        await eventually(midway, timeout_s=60, what=f"{KILL_AT} next occurrences before the kill")
        for consumer in consumers:
            consumer.kill()
        at_kill = await _next_occurrences(runtime)
        audited_at_kill = await count(runtime, AuditEntry)
        await asyncio.sleep(1.0)
        for consumer in consumers:
            consumer.start()
        await completing
        restarted_at = time.monotonic()

        async def settled() -> bool:
            events = await count(runtime, OutboxRow, OutboxRow.topic == TASK_EVENTS)
            return (
                await _next_occurrences(runtime) >= COMPLETIONS and await count(runtime, AuditEntry) >= events
            )

        await eventually(
            settled, timeout_s=90, what="every next occurrence and audit entry after the restart"
        )
        async with runtime.uow() as uow:
            events = set(
                await uow.session.scalars(select(OutboxRow.event_id).where(OutboxRow.topic == TASK_EVENTS))
            )
            audit_rows = list(await uow.session.scalars(select(AuditEntry.event_id)))
            per_series = list(
                await uow.session.scalars(select(func.count()).select_from(Task).group_by(Task.series_id))
            )
        occurrences = await _next_occurrences(runtime)
        print(
            f"\n[SIGKILL] killed {[c.service for c in consumers]} at {at_kill} next occurrences / "
            f"{audited_at_kill} audit entries; after restart: next occurrences={occurrences}, "
            f"tasks per series={sorted(set(per_series))}, "
            f"task events={len(events)}, audit entries={len(audit_rows)} ({len(set(audit_rows))} distinct); "
            f"settled {time.monotonic() - restarted_at:.1f}s after the stream ended; "
            f"took {time.monotonic() - started:.1f}s"
        )
        assert 0 < at_kill < COMPLETIONS
        assert occurrences == COMPLETIONS
        assert per_series == [2] * COMPLETIONS
        assert len(events) == 3 * COMPLETIONS  # created, completed, next occurrence created
        assert sorted(audit_rows) == sorted(events)  # exactly one audit entry per event
    finally:
        for consumer in consumers:
            consumer.stop()
        await runtime.stop()


async def _gather(coroutines: object) -> None:
    await asyncio.gather(*coroutines)  # type: ignore[misc]
