"""One `taskstream up` per data directory: a second one on the same directory stops with a clear message; so
does one whose port is taken, in every mode, before it starts anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskstream.devkafka import free_port
from tests.e2e.server import ROOT, Server


def up(*args: str) -> subprocess.CompletedProcess[str]:
    """`taskstream up ARGS` to its end (these stop at once)."""
    return subprocess.run(
        [sys.executable, "-m", "taskstream", "up", *args],
        env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_up_on_the_same_data_dir_exits_naming_the_first(server: Server) -> None:
    assert server.process is not None
    second = up("--port", str(free_port()), "--data-dir", str(server.data_dir))
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"another `taskstream up` (pid {server.process.pid}) runs on {server.data_dir}" in second.stderr
    assert server.process.poll() is None  # the first one goes on


@pytest.mark.parametrize("bus", ["memory", "kafka", "dapr"])
def test_up_on_a_taken_port_exits_at_once_naming_it(bus: str, tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        started = time.monotonic()
        refused = up("--bus", bus, "--port", str(port), "--data-dir", str(tmp_path / "data"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"127.0.0.1:{port} is already in use" in refused.stderr and "--port" in refused.stderr
    assert "listening" not in refused.stdout + refused.stderr  # nothing was started
    assert time.monotonic() - started < 30
