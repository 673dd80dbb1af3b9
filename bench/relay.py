"""Benchmark 5: relay throughput, events/s from the outbox table to Apache Kafka.

N outbox rows (task-event CloudEvents of ~1.5 KB, 100 partition keys) are bulk-inserted, then OutboxRelay
drains them through KafkaBus to the dev broker (taskstream.devkafka: one node, log on disk).
Ceiling: an AIOKafkaProducer with the settings KafkaBus uses (acks=all, idempotent, linger 5 ms) sending
the same payloads straight to the same broker in batches of the relay's batch size, each batch awaited.
The direct run is measured before and after the relay runs; the ceiling is their mean.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

from bench.common import Options, Row, create_pg_database, drop_pg_database, pg_url, sqlite_url

TARGET = 0.50
BATCH = 200  # Settings.relay_batch_size default
TOPIC = "task-events"


def payloads(count: int) -> list[tuple[str, bytes]]:
    """(partition key, CloudEvent JSON) pairs shaped like a task.created event."""
    users = [str(uuid.uuid4()) for _ in range(100)]
    now = datetime.now(UTC).isoformat()
    out = []
    for n in range(count):
        task_id = str(uuid.uuid4())
        data = {
            "event_type": "created",
            "task_id": task_id,
            "user_id": users[n % 100],
            "timestamp": now,
            "task_data": {
                "id": task_id,
                "user_id": users[n % 100],
                "title": f"Relay bench task {n}",
                "description": "x" * 400,
                "priority": "medium",
                "tags": ["bench", "relay"],
                "due_at": now,
                "timezone": "UTC",
                "version": 1,
                "reminders": [],
            },
            "changes": {},
            "actor": "user",
        }
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/taskstream",
            "type": "com.taskstream.task.created.v1",
            "subject": task_id,
            "time": now,
            "datacontenttype": "application/json",
            "partitionkey": users[n % 100],
            "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            "data": data,
        }
        out.append((users[n % 100], json.dumps(event).encode()))
    return out


async def relay_rate(url: str, bootstrap: str, events: list[tuple[str, bytes]]) -> float:
    """Events/s of OutboxRelay.drain_once over KafkaBus until the outbox is empty."""
    from sqlalchemy import insert

    from taskstream.domain.clock import SystemClock
    from taskstream.messaging.bus import Message
    from taskstream.messaging.relay import OutboxRelay
    from taskstream.store.db import create_engine, migrate
    from taskstream.store.tables import OutboxRow
    from taskstream.store.uow import UnitOfWorkFactory
    from taskstream.transports.kafka import KafkaBus

    engine = create_engine(url)
    await migrate(engine)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(OutboxRow),
            [
                {
                    "event_id": str(uuid.uuid4()),
                    "topic": TOPIC,
                    "key": key,
                    "payload": value.decode(),
                    "created_at": now,
                }
                for key, value in events
            ],
        )
    bus = KafkaBus(bootstrap, client_id="bench-relay")
    await bus.start()
    relay = OutboxRelay(UnitOfWorkFactory(engine), bus, SystemClock(), batch_size=BATCH)
    try:
        await bus.publish([Message(TOPIC, "warm", b"{}")])  # creates the topic outside the timed part
        t0 = time.perf_counter()
        while await relay.drain_once():
            pass
        took = time.perf_counter() - t0
    finally:
        await bus.stop()
        await engine.dispose()
    assert relay.sent == len(events), (relay.sent, len(events))
    return len(events) / took


async def create_topic(bootstrap: str) -> None:
    """Make TOPIC as the services make theirs (KafkaBus creates a topic on first publish)."""
    from taskstream.messaging.bus import Message
    from taskstream.transports.kafka import KafkaBus

    bus = KafkaBus(bootstrap, client_id="bench-topics")
    await bus.start()
    try:
        await bus.publish([Message(TOPIC, "warm", b"{}")])
    finally:
        await bus.stop()


async def direct_rate(bootstrap: str, events: list[tuple[str, bytes]]) -> float:
    """Events/s of the same producer settings sending the payloads directly, BATCH at a time."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-direct",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=10_000,
    )
    await producer.start()
    try:
        await (await producer.send(TOPIC, b"{}", key=b"warm"))
        t0 = time.perf_counter()
        for start in range(0, len(events), BATCH):
            futures = [
                await producer.send(TOPIC, value, key=key.encode(), headers=[])
                for key, value in events[start : start + BATCH]
            ]
            await asyncio.wait(futures)
            for future in futures:
                future.result()
        took = time.perf_counter() - t0
    finally:
        await producer.stop()
    return len(events) / took


async def run(opts: Options) -> list[Row]:
    """Direct, relay on SQLite, relay on PostgreSQL, direct again."""
    from taskstream.devkafka import KafkaBroker, free_port

    count = 5_000 if opts.quick else 20_000
    events = payloads(count)
    broker = KafkaBroker(opts.workdir / "relay-kafka", port=free_port())
    await asyncio.to_thread(broker.start)
    rows: list[Row] = []
    try:
        await create_topic(broker.bootstrap)  # the broker creates no topic on its own
        directs = [await direct_rate(broker.bootstrap, events)]
        measured = [
            ("SQLite", await relay_rate(sqlite_url(opts.workdir / "relay.db"), broker.bootstrap, events))
        ]
        if opts.pg:
            name = await create_pg_database()
            try:
                measured.append(("PostgreSQL", await relay_rate(pg_url(name), broker.bootstrap, events)))
            finally:
                await drop_pg_database(name)
        directs.append(await direct_rate(broker.bootstrap, events))
    finally:
        await asyncio.to_thread(broker.stop)
    ceiling = sum(directs) / len(directs)
    for db, rate in measured:
        row = Row(
            "5 relay",
            f"relay outbox → Kafka ({db}, {count} events, batch {BATCH})",
            rate,
            "events/s",
            ceiling=ceiling,
            target=f"≥ {TARGET:.0%} of direct",
        )
        row.detail = "direct runs: " + ", ".join(f"{d:,.0f}" for d in directs) + " events/s"
        row.met = row.ratio is not None and row.ratio >= TARGET
        rows.append(row)
    return rows
