"""Consumers on the real broker: a duplicate delivery has one effect; a poison event is dead-lettered."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import select

from taskstream.devkafka import KafkaBroker
from taskstream.events.envelope import make_event
from taskstream.events.payloads import TASK_COMPLETED
from taskstream.events.topics import TASK_EVENTS, dead_letter_topic
from taskstream.features.audit.handlers import AuditHandlers
from taskstream.messaging.bus import Message
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from taskstream.store.db import migrate
from taskstream.store.tables import AuditEntry, DeadLetter, OutboxRow, Task
from taskstream.transports.kafka import KafkaBus
from tests.faults.conftest import bounded, count, eventually, kafka_settings, sign_up

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _publisher(broker: KafkaBroker) -> KafkaBus:
    bus = KafkaBus(broker.bootstrap, client_id="by-hand", request_timeout_s=5.0)
    await bus.start()
    return bus


async def _outbox_events(runtime: Runtime) -> list[Message]:
    async with runtime.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxRow).where(OutboxRow.topic == TASK_EVENTS).order_by(OutboxRow.id)
        )
        return [Message(row.topic, row.key, row.payload.encode()) for row in rows]


@bounded(90)
async def test_the_same_event_delivered_twice_has_one_effect(
    tmp_path: Path, pg_url: str, broker: KafkaBroker, api_client: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    started = time.monotonic()
    # No relay in this process: the outbox keeps the events, and the test publishes them by hand.
    runtime = Runtime(kafka_settings(tmp_path, pg_url, broker), services=("api", "recurring", "audit"))
    await runtime.start()
    publisher = await _publisher(broker)
    try:
        client = api_client(runtime)
        _, headers = await sign_up(client, "dup@example.com")
        ids = []
        for title in ("A", "B"):
            body = {"title": title, "due_date": "2030-01-01", "recurrence": "FREQ=DAILY"}
            task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
            assert (
                await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
            ).status_code == 200
            ids.append(task["id"])
        created_a, completed_a, created_b, completed_b = await _outbox_events(runtime)
        assert b"completed" in completed_a.value and b"completed" in completed_b.value

        # completed(A) twice, in two publishes, then the rest; one user, so one partition and this order.
        await publisher.publish([completed_a])
        await publisher.publish([completed_a])
        await publisher.publish([created_a, created_b, completed_b])

        async def b_done() -> bool:
            occurrences = await count(runtime, Task, Task.series_id == ids[1])
            return occurrences == 2 and await count(runtime, AuditEntry) >= 4

        await eventually(b_done, timeout_s=60, what="the events after the duplicate to take effect")
        series_a = await count(runtime, Task, Task.series_id == ids[0])
        audit_a = await count(runtime, AuditEntry, AuditEntry.event_id == json.loads(completed_a.value)["id"])
        audit_all = await count(runtime, AuditEntry)
        print(
            f"\n[duplicate] deliveries of completed(A)=2, tasks in series A={series_a}, "
            f"audit entries for it={audit_a}, audit entries total={audit_all} (4 distinct events), "
            f"took {time.monotonic() - started:.1f}s"
        )
        assert series_a == 2  # the completed task and exactly one next occurrence
        assert audit_a == 1
        assert audit_all == 4
    finally:
        await publisher.stop()
        await runtime.stop()


async def _read_topic(broker: KafkaBroker, topic: str, *, expect: int, timeout_s: float) -> list[Message]:
    """Every record of `topic` from the beginning, once `expect` of them arrived."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        found: list[Message] = []
        async with asyncio.timeout(timeout_s):
            # The services create every topic with the configured partition count.
            consumer.assign([TopicPartition(topic, p) for p in range(Settings().kafka_partitions)])
            await consumer.seek_to_beginning()
            while len(found) < expect:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        headers = {name: (value or b"").decode() for name, value in record.headers}
                        found.append(
                            Message(topic, (record.key or b"").decode(), record.value or b"", headers)
                        )
        return found
    finally:
        await consumer.stop()


@bounded(90)
async def test_a_poison_event_is_dead_lettered_after_n_attempts_and_the_partition_moves_on(
    tmp_path: Path, pg_url: str, broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    attempts: dict[str, int] = {}
    original = AuditHandlers.handle

    async def counting(self: AuditHandlers, uow: object, event: object) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1  # type: ignore[attr-defined]
        await original(self, uow, event)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditHandlers, "handle", counting)
    figures = ("retries", "dead letters", "dead-lettered", "malformed", "processed")
    before = dict(zip(figures, audit_figures(), strict=True))
    settings = kafka_settings(tmp_path, pg_url, broker, consumer_max_attempts=3)
    runtime = Runtime(settings, services=("audit",))
    await migrate(
        runtime.engine
    )  # an audit process waits for the api or relay to migrate; here the test does
    await runtime.start()
    publisher = await _publisher(broker)
    try:
        user = str(uuid.uuid4())
        now = datetime.now(UTC)
        # A valid CloudEvent whose data breaks the payload model: every attempt of the handler fails.
        poison = make_event(
            TASK_COMPLETED, subject="t-1", partitionkey=user, data={"garbage": True}, time=now
        )
        malformed = Message(TASK_EVENTS, user, b"{not json")
        later = [
            make_event(
                TASK_COMPLETED, subject=f"t-{n}", partitionkey=user, time=now, data=_task_event(user, n, now)
            )
            for n in range(2, 5)
        ]
        await publisher.publish([Message(TASK_EVENTS, user, poison.to_json()), malformed])
        await publisher.publish([Message(TASK_EVENTS, user, e.to_json()) for e in later])

        async def later_processed() -> bool:
            return await count(runtime, AuditEntry) == len(later)

        await eventually(later_processed, timeout_s=60, what="the events after the poison event")
        dead = await _read_topic(broker, dead_letter_topic(TASK_EVENTS), expect=2, timeout_s=20)
        stored = await count(runtime, DeadLetter)
        print(
            f"\n[poison] handler attempts on the poison event={attempts.get(poison.id)}, "
            f"dead-lettered={len(dead)} (attempts headers {[m.headers.get('attempts') for m in dead]}), "
            f"dead_letters rows={stored}, "
            f"later events processed={await count(runtime, AuditEntry)}/{len(later)}, "
            f"took {time.monotonic() - started:.1f}s"
        )
        assert attempts.get(poison.id) == settings.consumer_max_attempts
        by_value = {m.value: m for m in dead}
        assert set(by_value) == {poison.to_json(), malformed.value}
        assert by_value[poison.to_json()].headers["attempts"] == "3"
        assert by_value[poison.to_json()].headers["consumer"] == "audit"
        assert "ValidationError" in by_value[poison.to_json()].headers["error"]
        assert by_value[malformed.value].headers["attempts"] == "0"  # malformed: straight to the DLQ
        assert stored == 2
        assert {e.id for e in later} == set(attempts) - {poison.id}
        assert all(attempts[e.id] == 1 for e in later)
        moved = {name: now - before[name] for name, now in zip(figures, audit_figures(), strict=True)}
        assert moved == {"retries": 2, "dead letters": 2, "dead-lettered": 1, "malformed": 1, "processed": 3}
    finally:
        await publisher.stop()
        await runtime.stop()


def audit_figures() -> tuple[float, ...]:
    """The audit consumer's metrics: retries, dead letters (task-events), and events by outcome."""
    sample = REGISTRY.get_sample_value
    return (
        sample("taskstream_consumer_retries_total", {"consumer": "audit"}) or 0.0,
        sample("taskstream_dead_letters_total", {"consumer": "audit", "topic": TASK_EVENTS}) or 0.0,
        *(
            sample("taskstream_events_consumed_total", {"consumer": "audit", "outcome": o}) or 0.0
            for o in ("dead-lettered", "malformed", "processed")
        ),
    )


def _task_event(user: str, n: int, now: datetime) -> dict[str, object]:
    stamp = now.isoformat()
    task = {
        "id": f"t-{n}",
        "user_id": user,
        "title": f"task {n}",
        "priority": "none",
        "tags": [],
        "timezone": "UTC",
        "series_id": f"t-{n}",
        "completed": True,
        "completed_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
        "version": 2,
    }
    return {
        "event_type": "completed",
        "task_id": f"t-{n}",
        "user_id": user,
        "timestamp": stamp,
        "task_data": task,
    }
