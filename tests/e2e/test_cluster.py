"""`taskstream up --bus kafka`: six processes over the Apache Kafka it runs, a completion end to end, the
broker killed and restarted by the supervisor, Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from taskstream.devkafka import BrokerError, KafkaBroker, ensure_jars, free_port
from taskstream.devkafka.jars import java_binary
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.kafka]


async def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the supervisor exited"
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    pytest.fail(f"the api was not ready within {timeout_s} s")


def _start_up(port: int, tmp_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    with log_path.open("wb") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskstream",
                "up",
                "--bus",
                "kafka",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            env=dict(os.environ, PYTHONPATH=pythonpath),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )


async def _complete_a_recurring_task(
    client: httpx.AsyncClient, port: int, token: str, due: str
) -> list[object]:
    """Create and complete a daily task; returns what the WebSocket pushed (type, due date) up to the next."""
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?token={token}") as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        task = {"title": "daily", "due_date": due, "recurrence": "FREQ=DAILY"}
        created = (await client.post("/api/v1/tasks", json=task, headers=headers)).json()
        await client.post(f"/api/v1/tasks/{created['id']}/complete", headers=headers)
        pushed: list[object] = []
        async with asyncio.timeout(60):
            while len(pushed) < 3:  # created, completed, then the next occurrence created
                event = json.loads(await socket.recv())
                pushed.append((event["type"].split(".")[-2], event["data"]["task_data"]["due_date"]))
    return pushed


async def test_up_with_kafka_runs_each_service_as_a_process_and_stops_cleanly(tmp_path: Path) -> None:
    try:
        java_binary()
        ensure_jars()
    except BrokerError as error:
        unavailable(f"no Apache Kafka for `up --bus kafka`: {error}")
    port = free_port()
    log_path = tmp_path / "up.log"
    process = _start_up(port, tmp_path, log_path)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base, process, 60)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            body = {"email": "up@example.com", "password": "correct horse", "timezone": "UTC"}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            form = {"username": "up@example.com", "password": "correct horse"}
            token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
            assert await _complete_a_recurring_task(client, port, token, "2030-01-01") == [
                ("created", "2030-01-01"),
                ("completed", "2030-01-01"),
                ("created", "2030-01-02"),
            ]

            broker = KafkaBroker(tmp_path / "data" / "kafka")
            killed_pid = broker.pid
            assert killed_pid is not None, "up runs its broker on <data dir>/kafka"
            broker.kill()  # SIGKILL: the supervisor notices and starts it again on the same log and port
            async with asyncio.timeout(90):
                while (  # noqa: ASYNC110 - the broker is another process's child: nothing to await
                    broker.pid in (None, killed_pid) or "kafka broker restarted" not in log_path.read_text()
                ):
                    await asyncio.sleep(0.3)
            assert await _complete_a_recurring_task(client, port, token, "2031-01-01") == [
                ("created", "2031-01-01"),
                ("completed", "2031-01-01"),
                ("created", "2031-01-02"),
            ]
            headers = {"Authorization": f"Bearer {token}"}
            items = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()
            assert [t["due_date"] for t in items["items"]] == ["2030-01-02", "2031-01-02"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=40)
    log = log_path.read_text(errors="replace")
    for service in ("api", "relay", "recurring", "notifications", "audit", "realtime"):
        assert f"{service:<13} | " in log, f"no output prefixed by {service}"
    assert "no --bootstrap given: running Apache Kafka" in log
    assert "the kafka broker exited; restarting it" in log
    assert "all services stopped" in log
    assert "kafka broker stopped; its log stays" in log
    assert code == 0
    assert not KafkaBroker(tmp_path / "data" / "kafka").running
