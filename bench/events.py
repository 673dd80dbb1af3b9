"""Benchmark 2: event latency, from the HTTP response of a change to the WebSocket message at a second client.

One client creates tasks one after another over HTTP; a second client (a WebSocket of the same user) time-
stamps every pushed CloudEvent on arrival. Latency = arrival − HTTP response received; an event that arrives
before the response counts as 0 ms (the fraction that did is reported). Embedded: `taskstream up`;
broker: `taskstream up --bus kafka --database-url <PostgreSQL>` (every service its own process, the Apache
Kafka broker `up` runs; PostgreSQL so the relay is woken by NOTIFY rather than a poll); Dapr: `taskstream up
--bus dapr --database-url <PostgreSQL>` (the same, with every publish and delivery through the services' daprd
sidecars), measured in the same run as the direct-Kafka figure so the two compare.
"""

from __future__ import annotations

import asyncio
import json
import operator
import time
from functools import partial
from urllib.parse import quote

import httpx
import websockets

from bench.common import (
    Options,
    Row,
    Server,
    create_pg_database,
    drop_pg_database,
    ms,
    percentile,
    pg_url,
    sign_up,
)
from taskstream.devdapr.build import installed

EMBEDDED_P99_TARGET_MS = 20.0
BROKER_P99_TARGET_MS = 50.0


async def measure(base: str, *, changes: int, warmup: int, gap_s: float = 0.01) -> tuple[list[float], int]:
    """Latencies (s) of `changes` creates after `warmup` unmeasured ones; and how many beat the response."""
    headers = await sign_up(base)
    token = headers["Authorization"].split()[1]
    ws_url = base.replace("http://", "ws://") + f"/api/v1/ws?token={quote(token)}"
    arrivals: dict[str, float] = {}
    arrived = asyncio.Condition()
    async with websockets.connect(ws_url, max_size=2**22) as socket:
        ready = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert ready.get("type") == "ready", ready

        async def reader() -> None:
            async for raw in socket:
                now = time.perf_counter()
                event = json.loads(raw)
                if event.get("type", "").endswith("created.v1"):
                    async with arrived:
                        arrivals.setdefault(event["subject"], now)
                        arrived.notify_all()

        reading = asyncio.create_task(reader())
        latencies: list[float] = []
        early = 0
        try:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
                for n in range(warmup + changes):
                    response = await http.post("/api/v1/tasks", json={"title": f"event latency probe {n}"})
                    answered = time.perf_counter()
                    response.raise_for_status()
                    task_id = response.json()["id"]
                    async with arrived:
                        await asyncio.wait_for(
                            arrived.wait_for(partial(operator.contains, arrivals, task_id)), 30
                        )
                    if n >= warmup:
                        latencies.append(max(0.0, arrivals[task_id] - answered))
                        early += arrivals[task_id] <= answered
                    await asyncio.sleep(gap_s)
        finally:
            reading.cancel()
    return latencies, early


def _row(label: str, latencies: list[float], early: int, target_ms: float, note: str = "") -> Row:
    p50, p99 = ms(percentile(latencies, 50)), ms(percentile(latencies, 99))
    return Row(
        bench="2 events",
        figure=f"event latency p99, {label}",
        value=p99,
        unit="ms",
        detail=f"p50 {p50:.1f} ms · max {ms(max(latencies)):.1f} ms · n={len(latencies)} · "
        f"{early / len(latencies):.0%} before the HTTP response",
        target=f"≤ {target_ms:.0f} ms",
        met=p99 <= target_ms,
        note=note,
        lower_is_better=True,
    )


async def run(opts: Options) -> list[Row]:
    """Embedded, then over Apache Kafka directly, then over Kafka through Dapr sidecars."""
    changes, warmup = (60, 10) if opts.quick else (300, 30)
    rows = []
    server = Server(opts.workdir, name="events-embedded")
    await server.start()
    try:
        latencies, early = await measure(server.base, changes=changes, warmup=warmup)
    finally:
        server.stop()
    rows.append(_row("embedded (SQLite, memory bus)", latencies, early, EMBEDDED_P99_TARGET_MS))

    if not opts.pg:
        return rows
    buses = [("kafka", "Kafka broker (`up --bus kafka`, PostgreSQL)", "")]
    if installed() is not None:
        buses.append(("dapr", "Dapr sidecars (`up --bus dapr`, PostgreSQL)", "; every hop through daprd"))
    else:
        opts.notes.append("daprd not built (deploy/local/dapr build): the Dapr event latency skipped")
    for bus, label, extra in buses:  # the same run, one after the other, so the two figures compare
        name = await create_pg_database()
        try:
            server = Server(opts.workdir, name=f"events-{bus}", database_url=pg_url(name), bus=bus)
            await server.start(timeout_s=180)
            try:
                latencies, early = await measure(server.base, changes=changes, warmup=warmup)
            finally:
                server.stop(timeout_s=40)
        finally:
            await drop_pg_database(name)
        note = "six service processes + Apache Kafka; the api process pushes to the socket" + extra
        rows.append(_row(label, latencies, early, BROKER_P99_TARGET_MS, note=note))
    return rows
