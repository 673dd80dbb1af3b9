"""`taskstream serve api --workers N`: N api processes on one port over PostgreSQL, stopped together; SQLite
is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from taskstream.devkafka import free_port
from tests.e2e.server import ROOT


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "taskstream", "serve", "api", *args],
        env=os.environ | {"PYTHONPATH": str(ROOT / "src"), "TASKSTREAM_DATA_DIR": str(tmp_path)} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _workers_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == pid and b"multiprocessing" in command and b"resource_tracker" not in command:
                found.append(int(entry.name))
    return found


@pytest.mark.postgres
def test_two_api_workers_share_the_port_and_stop_together(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    process = _serve(tmp_path, "--workers", "2", "--port", str(port), TASKSTREAM_DATABASE_URL=pg_url)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_workers_of(process.pid)) < 2:
            time.sleep(0.1)
        workers = _workers_of(process.pid)
        assert len(workers) == 2, workers
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready
        email = "workers@example.com"
        credentials = {"email": email, "password": "correct horse battery"}
        assert httpx.post(f"{base}/api/v1/auth/register", json=credentials, timeout=30).status_code == 201
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": email, "password": credentials["password"]},
            timeout=30,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = []
        for n in range(20):  # a new connection each: either worker may take it
            answer = httpx.post(
                f"{base}/api/v1/tasks", json={"title": f"task {n}"}, headers=headers, timeout=10
            )
            assert answer.status_code == 201, answer.text
            created.append(answer.json()["id"])
        for task_id in created:
            assert httpx.get(f"{base}/api/v1/tasks/{task_id}", headers=headers, timeout=10).status_code == 200
        listed = httpx.get(f"{base}/api/v1/tasks", params={"limit": 50}, headers=headers, timeout=10).json()
        assert sorted(t["id"] for t in listed["items"]) == sorted(created)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), output


def test_workers_on_sqlite_are_refused_naming_the_reason(tmp_path: Path) -> None:
    process = _serve(tmp_path, "--workers", "2", "--port", str(free_port()))
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 2
    assert "--workers needs PostgreSQL" in output
