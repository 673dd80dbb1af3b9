"""One trace per user action: `taskstream up` (embedded, and six processes over Kafka) with the standard
OTEL_* variables pointed at an in-process OTLP/HTTP receiver; completing a recurring task yields one trace
holding the HTTP span, the relay's publish, the recurring consumer, the next occurrence's publish and the
WebSocket push. A reminder's firing starts a trace of its own, linked to the request that scheduled it,
which holds the notifications consumer and the push of the notification."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import websockets

from taskstream.devkafka import BrokerError, ensure_jars, free_port
from taskstream.devkafka.jars import java_binary
from tests.conftest import unavailable
from tests.otlp import OtlpReceiver, Span

ROOT = Path(__file__).resolve().parents[2]


def start_up(port: int, data: Path, log: Path, endpoint: str, *args: str) -> subprocess.Popen[bytes]:
    """`taskstream up ARGS` exporting its spans to `endpoint` over OTLP/HTTP (protobuf)."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = dict(
        os.environ,
        PYTHONPATH=pythonpath,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",  # ms between exports: spans arrive while the test waits
    )
    env.pop("OTEL_SERVICE_NAME", None)
    with log.open("wb") as output:
        command = [
            sys.executable,
            "-m",
            "taskstream",
            "up",
            *args,
            "--port",
            str(port),
            "--data-dir",
            str(data),
        ]
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)


async def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "taskstream up exited; see its log"
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    pytest.fail(f"not ready within {within} s; see {log}")


async def complete_a_recurring_task(base: str, port: int) -> None:
    """Register, watch the WebSocket, create and complete a daily task, till the next occurrence arrives;
    then create a task with a reminder two seconds away, till its notification arrives."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        body = {"email": "trace@example.com", "password": "correct horse", "timezone": "UTC"}
        assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
        form = {"username": "trace@example.com", "password": "correct horse"}
        token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?token={token}") as socket:
            assert json.loads(await socket.recv())["type"] == "ready"
            task = {"title": "water the plants", "due_date": "2030-01-01", "recurrence": "FREQ=DAILY"}
            created = (await client.post("/api/v1/tasks", json=task, headers=headers)).json()
            done = await client.post(f"/api/v1/tasks/{created['id']}/complete", headers=headers)
            assert done.status_code == 200
            async with asyncio.timeout(60):
                while True:
                    event = json.loads(await socket.recv())
                    kind = event["type"].split(".")[-2]  # com.taskstream.task.<kind>.v1
                    if kind == "created" and event["data"]["task_data"]["due_date"] == "2030-01-02":
                        break
            at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
            reminded = {
                "title": "call the plumber",
                "due_at": "2030-01-01T09:00:00Z",
                "reminders": [{"at": at}],
            }
            assert (await client.post("/api/v1/tasks", json=reminded, headers=headers)).status_code == 201
            async with asyncio.timeout(60):
                while json.loads(await socket.recv())["type"] != "com.taskstream.notification.created.v1":
                    pass


def ancestors(span: Span, by_id: dict[str, Span]) -> list[Span]:
    chain = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


def causal_chain(spans: list[Span]) -> dict[str, Span] | None:
    """The spans of the completion's trace, by role, once all have arrived (None until then)."""
    completes = [
        s for s in spans if s.kind == "SERVER" and "/complete" in str(s.attributes.get("http.route"))
    ]
    if not completes:
        return None
    http = completes[0]
    trace = [s for s in spans if s.trace_id == http.trace_id]
    by_id = {s.span_id: s for s in trace}

    def below(span: Span, parent: Span) -> bool:
        return parent in ancestors(span, by_id)

    recurring = [
        s
        for s in trace
        if s.kind == "CONSUMER" and s.attributes.get("messaging.consumer.group.name") == "recurring"
    ]
    sends = [s for s in trace if s.kind == "PRODUCER" and s.name == "send task-events"]
    first = [s for s in sends if below(s, http) and not any(below(s, r) for r in recurring)]
    roles = {"http": http}
    for consumer in recurring:
        following = [s for s in sends if below(s, consumer)]
        pushes = [
            s
            for s in trace
            if s.name == "websocket push"
            and below(s, consumer)
            and any(
                a.kind == "CONSUMER" and a.attributes.get("messaging.destination.name") == "task-updates"
                for a in ancestors(s, by_id)
            )
        ]
        if first and below(consumer, http) and following and pushes:
            roles |= {"send": first[0], "recurring": consumer, "next send": following[0], "push": pushes[0]}
            return roles
    return None


def reminder_chain(spans: list[Span]) -> dict[str, Span] | None:
    """The firing of the reminder, the request that scheduled it and what the firing caused (None until all
    have arrived)."""
    fires = [s for s in spans if s.name == "fire reminder"]
    creates = {
        (s.trace_id, s.span_id): s
        for s in spans
        if s.kind == "SERVER" and s.attributes.get("http.route") == "/api/v1/tasks"
    }
    for fire in fires:
        trace = [s for s in spans if s.trace_id == fire.trace_id]
        by_id = {s.span_id: s for s in trace}
        linked = [creates[k] for k in fire.links if k in creates]
        consumers = [
            s
            for s in trace
            if s.kind == "CONSUMER"
            and s.attributes.get("messaging.consumer.group.name") == "notifications"
            and fire in ancestors(s, by_id)
        ]
        pushes = [
            s
            for s in trace
            if s.name == "websocket push" and consumers[:1] and consumers[0] in ancestors(s, by_id)
        ]
        if linked and consumers and pushes:
            return {"fire": fire, "scheduled by": linked[0], "notifications": consumers[0], "push": pushes[0]}
    return None


async def traced_completion(tmp_path: Path, *args: str, ready_within: float) -> dict[str, Span]:
    with OtlpReceiver() as otlp:
        port = free_port()
        log = tmp_path / "up.log"
        process = start_up(port, tmp_path / "data", log, otlp.endpoint, *args)
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base, process, log, ready_within)
            await complete_a_recurring_task(base, port)
            deadline = time.monotonic() + 30
            while (chain := causal_chain(otlp.snapshot())) is None or (
                reminder := reminder_chain(otlp.snapshot())
            ) is None:
                if time.monotonic() > deadline:
                    names = sorted({(s.service, s.kind, s.name) for s in otlp.snapshot()})
                    which = "completion" if chain is None else "reminder"
                    pytest.fail(f"no complete {which} chain in {len(otlp.snapshot())} spans: {names}")
                await asyncio.sleep(0.2)
            return chain | {f"reminder {role}": span for role, span in reminder.items()}
        finally:
            process.terminate()
            process.wait(30)


async def test_embedded_up_traces_a_completion_from_the_request_to_the_websocket(tmp_path: Path) -> None:
    chain = await traced_completion(tmp_path, ready_within=30)
    assert chain["http"].service == "taskstream-api"
    assert chain["send"].service == "taskstream-relay"
    assert chain["recurring"].service == "taskstream-recurring"
    assert chain["push"].service in {"taskstream-realtime", "taskstream-api"}
    send = chain["send"].attributes
    assert send["messaging.destination.name"] == "task-events" and send["messaging.operation.type"] == "send"
    assert send["messaging.system"] == "taskstream.memory"
    assert chain["recurring"].attributes["messaging.operation.type"] == "process"
    assert_reminder_chain(chain)


def assert_reminder_chain(chain: dict[str, Span]) -> None:
    """The firing is a root span of the notifications service, in a trace apart from its request's."""
    fire = chain["reminder fire"]
    assert fire.service == "taskstream-notifications" and fire.parent_id == ""
    assert fire.trace_id != chain["reminder scheduled by"].trace_id
    assert chain["reminder notifications"].service == "taskstream-notifications"
    assert chain["reminder push"].service in {"taskstream-realtime", "taskstream-api"}


@pytest.mark.kafka
async def test_up_over_kafka_traces_a_completion_across_the_processes(tmp_path: Path) -> None:
    try:
        java_binary()
        ensure_jars()
    except BrokerError as error:
        unavailable(f"no Apache Kafka for `up --bus kafka`: {error}")
    chain = await traced_completion(tmp_path, "--bus", "kafka", ready_within=90)
    assert [chain[r].service for r in ("http", "send", "recurring", "next send")] == [
        "taskstream-api",
        "taskstream-relay",
        "taskstream-recurring",
        "taskstream-relay",
    ]
    assert chain["push"].service in {"taskstream-realtime", "taskstream-api"}
    assert chain["send"].attributes["messaging.system"] == "kafka"
    assert chain["recurring"].attributes["messaging.consumer.group.name"] == "recurring"
    assert_reminder_chain(chain)
